/*
 * rm_tsan.h — ThreadSanitizer annotations for synchronisation TSan cannot see.
 *
 * Debian's gRPC is not built with -fsanitize=thread, so the happens-before edge
 * that a completion queue provides (a thread starts a batch with a tag; another
 * thread receives the tag from grpc_completion_queue_next) is invisible to TSan,
 * and every later access to the call's state would look like a race. We model
 * that edge explicitly: release on the tag's object before handing it to gRPC,
 * acquire on it when the queue returns it. Without TSan these compile to nothing.
 */
#ifndef RUSTYMEM_RM_TSAN_H
#define RUSTYMEM_RM_TSAN_H

#if defined(__SANITIZE_THREAD__)
#define RM_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define RM_TSAN 1
#endif
#endif

#ifdef RM_TSAN
void __tsan_acquire(void *addr);
void __tsan_release(void *addr);
#define RM_TSAN_ACQUIRE(p) __tsan_acquire((void *)(p))
#define RM_TSAN_RELEASE(p) __tsan_release((void *)(p))
#else
#define RM_TSAN_ACQUIRE(p) ((void)(p))
#define RM_TSAN_RELEASE(p) ((void)(p))
#endif

#endif /* RUSTYMEM_RM_TSAN_H */
