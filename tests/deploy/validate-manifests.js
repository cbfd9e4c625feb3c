#!/usr/bin/env node
// validate-manifests.js — check one rendered kustomize overlay offline.
//
// usage: node validate-manifests.js RENDERED.yaml OUTDIR RULES.yaml
//   RENDERED.yaml  output of `kustomize build` / `kubectl kustomize`
//   OUTDIR         receives rustymem-rules.yaml (the PrometheusRule's groups,
//                  for promtool) and rustymem.ini (the agent's --config file,
//                  for rustymemd) and auth (the Secret's auth file, if any)
//   RULES.yaml     deploy/prometheus/rustymem-rules.yaml: must equal the
//                  PrometheusRule's spec
// Exit 0 when every check passes, 1 otherwise (one line per problem on stderr).
//
// Design note. Two layers. (1) Schema: every object goes through the model
// class of kubernetes-models@4 (Kubernetes 1.27+ OpenAPI) or
// @kubernetes-models/prometheus-operator@4 for ServiceMonitor/PrometheusRule,
// and `.validate()` — wrong types, bad enums and missing required fields fail.
// Those schemas accept unknown fields, so a misspelt key (`readinesProbe`)
// would pass: (2) the policy layer asserts by name every property issue 9
// requires (probes, downward-API node name, resources, non-root, read-only
// root, ports, selectors that match, references that resolve), which catches
// exactly the typos that matter. Node modules come from NODE_PATH.
'use strict';

const fs = require('fs');
const path = require('path');
const util = require('util');
const YAML = require('yaml');

const [renderedPath, outDir, rulesPath] = process.argv.slice(2);
if (!renderedPath || !outDir || !rulesPath) {
  console.error('usage: validate-manifests.js RENDERED.yaml OUTDIR RULES.yaml');
  process.exit(2);
}

const problems = [];
const fail = (what, msg) => problems.push(`${what}: ${msg}`);
const check = (cond, what, msg) => { if (!cond) fail(what, msg); return !!cond; };

const docs = YAML.parseAllDocuments(fs.readFileSync(renderedPath, 'utf8'));
const objs = [];
for (const d of docs) {
  if (d.errors.length) { fail(renderedPath, `YAML error: ${d.errors[0].message}`); continue; }
  const o = d.toJS();
  if (!o) continue;
  // kustomize wraps long base64 values at 70 columns; the API server's
  // decoder (Go encoding/base64) ignores the newlines, the "byte" format
  // check does not: compare what the server would decode.
  if (o.kind === 'Secret' && o.data) {
    for (const k of Object.keys(o.data)) o.data[k] = String(o.data[k]).replace(/\s+/g, '');
  }
  objs.push(o);
}
const id = (o) => `${o.kind}/${o.metadata && o.metadata.name}`;

// ---- (1) schema validation ------------------------------------------------
function modelFor(apiVersion, kind) {
  const [group, version] = apiVersion.includes('/') ? apiVersion.split('/') : ['', apiVersion];
  const mod = group === 'monitoring.coreos.com'
    ? `@kubernetes-models/prometheus-operator/${group}/${version}`
    : group ? `kubernetes-models/${group}/${version}` : `kubernetes-models/${version}`;
  let m;
  try { m = require(mod); } catch (e) { return null; }
  return m[kind] || null;
}

for (const o of objs) {
  if (!check(o.apiVersion && o.kind, '(object)', `missing apiVersion/kind: ${JSON.stringify(o).slice(0, 80)}`)) continue;
  check(o.metadata && o.metadata.name, id(o), 'metadata.name is missing');
  const Model = modelFor(o.apiVersion, o.kind);
  if (!check(Model, id(o), `no schema for ${o.apiVersion} ${o.kind} (unknown kind or API version)`)) continue;
  try {
    new Model(o).validate();
  } catch (e) {
    const details = e.errors ? e.errors.map((x) => `${x.instancePath || '/'} ${x.message}`).join('; ') : e.message;
    fail(id(o), `schema: ${details}`);
  }
  if (o.kind !== 'Namespace' && !['ClusterRole', 'ClusterRoleBinding', 'PriorityClass'].includes(o.kind)) {
    check(o.metadata.namespace === 'rustymem', id(o), `namespace is ${o.metadata.namespace}, expected rustymem`);
  }
}

// ---- (2) policy -------------------------------------------------------------
const find = (kind, name) => objs.find((o) => o.kind === kind && o.metadata.name === name);
const byKind = (kind) => objs.filter((o) => o.kind === kind);
const matches = (selector, labels) => !!selector && Object.entries(selector).every(([k, v]) => labels && labels[k] === v);
const argValue = (args, flag) => {
  for (let i = 0; i < (args || []).length; i++) {
    if (args[i] === flag) return args[i + 1];
    if (args[i].startsWith(flag + '=')) return args[i].slice(flag.length + 1);
  }
  return undefined;
};

const ns = byKind('Namespace');
check(ns.length === 1 && ns[0].metadata.name === 'rustymem', 'Namespace', 'exactly one Namespace "rustymem" expected');

const workloads = [...byKind('DaemonSet'), ...byKind('Deployment')];
for (const w of workloads) {
  const what = id(w);
  const pod = w.spec.template.spec;
  check(matches(w.spec.selector.matchLabels, w.spec.template.metadata.labels), what, 'selector does not match the pod template labels');
  check(pod.securityContext && pod.securityContext.runAsNonRoot === true, what, 'pod securityContext.runAsNonRoot must be true');
  check(pod.securityContext && pod.securityContext.seccompProfile && pod.securityContext.seccompProfile.type === 'RuntimeDefault', what, 'seccompProfile RuntimeDefault expected');
  check(find('ServiceAccount', pod.serviceAccountName), what, `serviceAccountName ${pod.serviceAccountName} does not exist`);
  const volumes = Object.fromEntries((pod.volumes || []).map((v) => [v.name, v]));
  for (const c of [...(pod.initContainers || []), ...pod.containers]) {
    const cw = `${what} container ${c.name}`;
    const init = (pod.initContainers || []).includes(c);
    const sc = c.securityContext || {};
    check(sc.allowPrivilegeEscalation === false, cw, 'allowPrivilegeEscalation must be false');
    check(sc.readOnlyRootFilesystem === true, cw, 'readOnlyRootFilesystem must be true');
    check(sc.capabilities && (sc.capabilities.drop || []).includes('ALL'), cw, 'capabilities must drop ALL');
    if (!init) {
      check(sc.runAsUser === undefined || sc.runAsUser !== 0, cw, 'must not run as root');
      check(!sc.capabilities || !sc.capabilities.add, cw, 'must not add capabilities');
    } else {
      // The only root process allowed: the production data-dir chown.
      check(c.name === 'prepare-data-dir', cw, 'unexpected init container');
      check(JSON.stringify((sc.capabilities || {}).add || []) === '["CHOWN","FOWNER"]', cw, 'may add only CHOWN and FOWNER');
    }
    const r = c.resources || {};
    for (const k of ['requests', 'limits']) {
      check(r[k] && r[k].cpu && r[k].memory, cw, `resources.${k} needs cpu and memory`);
    }
    for (const m of c.volumeMounts || []) check(volumes[m.name], cw, `volumeMount ${m.name} has no volume`);
    if (!init) {
      check(c.livenessProbe, cw, 'livenessProbe missing');
      check(c.readinessProbe, cw, 'readinessProbe missing');
    }
  }
  for (const v of Object.values(volumes)) {
    if (v.configMap) check(find('ConfigMap', v.configMap.name), what, `volume ${v.name}: ConfigMap ${v.configMap.name} is not in the output`);
  }
}

// The Secret key a file path of container c comes from: {secret, key}, or null.
function secretFileKey(pod, c, file) {
  const m = (c.volumeMounts || []).find((x) => file.startsWith(x.mountPath + '/'));
  const v = m && (pod.volumes || []).find((x) => x.name === m.name);
  if (!v || !v.secret) return null;
  const rel = file.slice(m.mountPath.length + 1);
  const item = (v.secret.items || []).find((i) => i.path === rel);
  return { secret: v.secret.secretName, key: item ? item.key : rel };
}
// The content of that key when the overlay generates the Secret, else null.
function secretText(ref) {
  const sec = ref && find('Secret', ref.secret);
  const data = sec && sec.data && sec.data[ref.key];
  return data ? Buffer.from(data, 'base64').toString() : null;
}

// The agent DaemonSet.
const ds = find('DaemonSet', 'rustymem-agent');
let agentIni = null;
let authFile = null;
if (check(ds, 'DaemonSet/rustymem-agent', 'missing')) {
  const what = 'DaemonSet/rustymem-agent';
  const pod = ds.spec.template.spec;
  const su = ds.spec.updateStrategy;
  check(su && su.rollingUpdate && su.rollingUpdate.maxSurge === 0, what, 'rollingUpdate.maxSurge must be 0 (one agent per data directory)');
  const d = pod.containers.find((c) => c.name === 'rustymemd');
  const e = pod.containers.find((c) => c.name === 'exporter');
  if (check(d, what, 'container rustymemd missing')) {
    const cw = `${what} container rustymemd`;
    check(d.command && d.command[0] === '/usr/bin/rustymemd', cw, 'command must be /usr/bin/rustymemd');
    const listen = argValue(d.args, '--listen');
    check(listen === '0.0.0.0:50051', cw, `--listen is ${listen}, expected 0.0.0.0:50051`);
    check((d.args || []).includes('--insecure') || argValue(d.args, '--tls-cert'), cw, 'a non-loopback --listen needs --insecure or --tls-cert');
    check(argValue(d.args, '--auth-file'), cw, 'plaintext gRPC on the pod network needs --auth-file');
    const grace = Number(argValue(d.args, '--grace-ms') || 3000);
    check(pod.terminationGracePeriodSeconds * 1000 >= grace + 5000, cw,
      `terminationGracePeriodSeconds ${pod.terminationGracePeriodSeconds} s leaves under 5 s after --grace-ms ${grace}`);
    const nodeEnv = (d.env || []).find((x) => x.name === 'NODE_NAME');
    check(nodeEnv && nodeEnv.valueFrom && nodeEnv.valueFrom.fieldRef && nodeEnv.valueFrom.fieldRef.fieldPath === 'spec.nodeName', cw, 'NODE_NAME must come from the downward API (spec.nodeName)');
    check((d.ports || []).some((p) => p.name === 'grpc' && p.containerPort === 50051), cw, 'port grpc 50051 missing');
    for (const p of ['livenessProbe', 'readinessProbe', 'startupProbe']) {
      check(d[p] && d[p].grpc && d[p].grpc.port === 50051, cw, `${p} must be a native gRPC probe on 50051`);
    }
    const rl = (d.resources || {}).limits || {};
    const rq = (d.resources || {}).requests || {};
    check(rl.memory && rl.memory === rq.memory, cw, 'memory request must equal the limit (the limit is the budget)');
    const mounts = Object.fromEntries((d.volumeMounts || []).map((m) => [m.mountPath, m]));
    const dataDir = argValue(d.args, '--data-dir');
    check(dataDir && mounts[dataDir], cw, `--data-dir ${dataDir} is not a mounted volume`);
    const dataVol = dataDir && mounts[dataDir] && (pod.volumes || []).find((v) => v.name === mounts[dataDir].name);
    check(dataVol && (dataVol.emptyDir || dataVol.hostPath), cw, 'data directory must be an emptyDir or hostPath');
    check(mounts['/tmp'], cw, 'a writable /tmp is expected with a read-only root');
    const cfg = argValue(d.args, '--config');
    const cfgMount = cfg && mounts[cfg];
    const cfgVol = cfgMount && (pod.volumes || []).find((v) => v.name === cfgMount.name);
    const cm = cfgVol && cfgVol.configMap && find('ConfigMap', cfgVol.configMap.name);
    if (check(cm && cm.data && cm.data[cfgMount.subPath], cw, `--config ${cfg} is not a key of a ConfigMap in the output`)) {
      agentIni = cm.data[cfgMount.subPath];
    }
    const auth = argValue(d.args, '--auth-file');
    const authMount = auth && Object.values(mounts).find((m) => auth.startsWith(m.mountPath + '/'));
    const authVol = authMount && (pod.volumes || []).find((v) => v.name === authMount.name);
    check(authVol && authVol.secret, cw, `--auth-file ${auth} is not on a Secret volume`);
    const sec = authVol && authVol.secret && find('Secret', authVol.secret.secretName);
    if (sec) {
      const data = sec.data || {};
      const key = (authVol.secret.items || []).find((i) => auth === `${authMount.mountPath}/${i.path}`);
      const k = key ? key.key : path.basename(auth);
      if (check(data[k] || (sec.stringData || {})[k], cw, `Secret ${sec.metadata.name} has no key ${k}`)) {
        authFile = data[k] ? Buffer.from(data[k], 'base64').toString() : sec.stringData[k];
      }
    }
  }
  if (check(e, what, 'container exporter missing')) {
    const cw = `${what} container exporter`;
    check(e.command && e.command[0] === '/usr/bin/rustymem-exporter', cw, 'command must be /usr/bin/rustymem-exporter');
    check(argValue(e.args, '--agent') === '127.0.0.1:50051', cw, '--agent must be 127.0.0.1:50051 (same pod)');
    check(argValue(e.args, '--listen') === '0.0.0.0:8080', cw, '--listen must be 0.0.0.0:8080');
    // The exporter authenticates to rustymemd with a token file from a Secret
    // (issue 16: a token it did not read left rustymem_up 0 on every node).
    const tf = argValue(e.args, '--token-file');
    check(tf && secretFileKey(pod, e, tf), cw, `--token-file ${tf} must be a file of a Secret volume`);
    check(!(e.env || []).some((x) => x.name === 'RUSTYMEM_TOKEN'), cw, 'give the token one way: --token-file, not also RUSTYMEM_TOKEN');
    const et = tf && secretText(secretFileKey(pod, e, tf));
    if (et !== null && et !== undefined && authFile !== null) {
      check(new RegExp(`^\\s*token\\s+(reader|admin)\\s+${et.trim()}(\\s|$)`, 'm').test(authFile), cw, 'the agent\'s auth file does not know the exporter\'s token');
    }
    check((e.ports || []).some((p) => p.name === 'metrics' && p.containerPort === 8080), cw, 'port metrics 8080 missing');
    check(e.livenessProbe && e.livenessProbe.httpGet && e.livenessProbe.httpGet.path === '/healthz', cw, 'livenessProbe must GET /healthz');
    check(e.readinessProbe && e.readinessProbe.httpGet && e.readinessProbe.httpGet.path === '/readyz', cw, 'readinessProbe must GET /readyz');
  }
}

// Services: every selector matches a pod template; every targetPort names a container port.
for (const s of byKind('Service')) {
  const what = id(s);
  const owners = workloads.filter((w) => matches(s.spec.selector, w.spec.template.metadata.labels));
  if (!check(owners.length === 1, what, `selector matches ${owners.length} workloads, expected 1`)) continue;
  const ports = owners[0].spec.template.spec.containers.flatMap((c) => c.ports || []);
  for (const p of s.spec.ports) {
    check(ports.some((cp) => cp.name === p.targetPort || cp.containerPort === p.targetPort), what, `targetPort ${p.targetPort} is not a container port`);
  }
}
const hs = find('Service', 'rustymem-agent');
if (check(hs, 'Service/rustymem-agent', 'missing')) {
  check(hs.spec.clusterIP === 'None', 'Service/rustymem-agent', 'must be headless (clusterIP: None)');
  const pp = hs.spec.ports.map((p) => `${p.name}:${p.port}`).sort().join(',');
  check(pp === 'grpc:50051,metrics:8080', 'Service/rustymem-agent', `ports ${pp}, expected grpc:50051,metrics:8080`);
}
const fleet = find('Deployment', 'rustymem-fleet');
if (check(fleet, 'Deployment/rustymem-fleet', 'missing')) {
  const c = fleet.spec.template.spec.containers[0];
  const dns = argValue(c.args, '--agents-dns') || '';
  check(hs && dns === `${hs.metadata.name}:50051`, 'Deployment/rustymem-fleet', `--agents-dns ${dns} must name the headless Service and port 50051`);
  check(argValue(c.args, '--listen') === '0.0.0.0:50052', 'Deployment/rustymem-fleet', '--listen must be 0.0.0.0:50052');
  // No open admin API (issue 16): FleetService needs an auth file from a Secret.
  const fpod = fleet.spec.template.spec;
  const fa = argValue(c.args, '--auth-file');
  const faRef = fa && secretFileKey(fpod, c, fa);
  check(faRef, 'Deployment/rustymem-fleet', `--auth-file ${fa} must be a file of a Secret volume`);
  const faText = secretText(faRef);
  if (faText !== null) {
    check(/^\s*token\s+(admin|reader)\s+\S{16,}/m.test(faText), 'Deployment/rustymem-fleet', `Secret ${faRef.secret} key ${faRef.key} grants no token`);
    fs.writeFileSync(path.join(outDir, 'fleet-auth'), faText);
  }
  check(!(c.args || []).includes('--allow-unauthenticated'), 'Deployment/rustymem-fleet', 'must not run --allow-unauthenticated');
  const ft = argValue(c.args, '--token-file');
  const ftRef = ft && secretFileKey(fpod, c, ft);
  check(ftRef, 'Deployment/rustymem-fleet', `--token-file ${ft} must be a file of a Secret volume`);
  check(!(c.env || []).some((x) => x.name === 'RUSTYMEM_TOKEN'), 'Deployment/rustymem-fleet', 'give the token one way: --token-file, not also RUSTYMEM_TOKEN');
  // The agents' auth file must know the fleet's token as admin and the exporter's as reader.
  const tokText = secretText(ftRef);
  if (tokText !== null && authFile !== null) {
    check(new RegExp(`^\\s*token\\s+admin\\s+${tokText.trim()}(\\s|$)`, 'm').test(authFile), 'Deployment/rustymem-fleet', 'the agents\' auth file does not grant the fleet\'s token the admin role');
  }
  const fnp = find('NetworkPolicy', 'rustymem-fleet');
  if (check(fnp, 'NetworkPolicy/rustymem-fleet', 'missing')) {
    check((fnp.spec.ingress || []).length > 0 && fnp.spec.ingress.every((r) => (r.from || []).length > 0), 'NetworkPolicy/rustymem-fleet',
      'every ingress rule must name its sources (from): the fleet port is not for the whole cluster');
  }
  for (const p of ['livenessProbe', 'readinessProbe']) {
    check(c[p] && c[p].grpc && c[p].grpc.port === 50052, 'Deployment/rustymem-fleet', `${p} must be a native gRPC probe on 50052`);
  }
  // Two replicas, one leader on etcd (ADR 0027): --etcd from the ConfigMap, a unique --etcd-id per pod,
  // and never two new pods at once.
  check(fleet.spec.replicas === 2 && fleet.spec.strategy.type === 'RollingUpdate' &&
        fleet.spec.strategy.rollingUpdate && fleet.spec.strategy.rollingUpdate.maxSurge === 0,
        'Deployment/rustymem-fleet', 'two replicas, RollingUpdate with maxSurge 0');
  const envOf = (n) => (c.env || []).find((x) => x.name === n);
  const ep = envOf('ETCD_ENDPOINTS');
  check(argValue(c.args, '--etcd') === '$(ETCD_ENDPOINTS)' && ep && ep.valueFrom && ep.valueFrom.configMapKeyRef &&
        find('ConfigMap', ep.valueFrom.configMapKeyRef.name) &&
        /^\S+:\d+(,\S+:\d+)*$/.test(find('ConfigMap', ep.valueFrom.configMapKeyRef.name).data[ep.valueFrom.configMapKeyRef.key] || ''),
        'Deployment/rustymem-fleet', '--etcd must come from a ConfigMap key holding HOST:PORT[,HOST:PORT...]');
  const pn = envOf('POD_NAME');
  check(argValue(c.args, '--etcd-id') === '$(POD_NAME)' && pn && pn.valueFrom && pn.valueFrom.fieldRef &&
        pn.valueFrom.fieldRef.fieldPath === 'metadata.name', 'Deployment/rustymem-fleet', '--etcd-id must be the pod name');
  check(find('Service', 'rustymem-fleet'), 'Service/rustymem-fleet', 'missing');
}
// Secrets referenced through env must exist when the overlay generates secrets.
for (const w of workloads) {
  for (const c of w.spec.template.spec.containers) {
    for (const e of c.env || []) {
      const ref = e.valueFrom && e.valueFrom.secretKeyRef;
      const s = ref && find('Secret', ref.name);
      if (s) check((s.data || {})[ref.key], id(w), `Secret ${ref.name} has no key ${ref.key}`);
      else if (ref) check(!byKind('Secret').length && ref.name === 'rustymem-auth', id(w), `Secret ${ref.name} is not in the output`);
    }
  }
}

// RBAC: nothing of rustymem calls the Kubernetes API (the fleet discovers
// agents through DNS), so no RBAC object and no mounted ServiceAccount token.
for (const k of ['Role', 'ClusterRole', 'RoleBinding', 'ClusterRoleBinding']) {
  for (const r of byKind(k)) fail(id(r), 'unused RBAC: no rustymem component calls the Kubernetes API');
}
for (const sa of byKind('ServiceAccount')) {
  check(sa.automountServiceAccountToken === false, id(sa), 'automountServiceAccountToken must be false (no component uses the API)');
}
for (const b of [...byKind('RoleBinding'), ...byKind('ClusterRoleBinding')]) {
  check(find(b.roleRef.kind, b.roleRef.name), id(b), `roleRef ${b.roleRef.kind}/${b.roleRef.name} does not exist`);
  for (const s of b.subjects) {
    check(s.kind !== 'ServiceAccount' || (find('ServiceAccount', s.name) && s.namespace === 'rustymem'), id(b), `subject ${s.name} is not a ServiceAccount in rustymem`);
  }
}

// ServiceMonitor → the headless Service's metrics port.
const sm = find('ServiceMonitor', 'rustymem-agent');
if (check(sm, 'ServiceMonitor/rustymem-agent', 'missing') && hs) {
  check(matches(sm.spec.selector.matchLabels, hs.metadata.labels), id(sm), 'selector does not match Service/rustymem-agent');
  check(sm.spec.endpoints.every((ep) => hs.spec.ports.some((p) => p.name === ep.port)), id(sm), 'endpoint port is not a port name of the Service');
}

// PrometheusRule: equal to the plain rule file; written out for promtool.
const pr = find('PrometheusRule', 'rustymem');
if (check(pr, 'PrometheusRule/rustymem', 'missing')) {
  const plain = YAML.parse(fs.readFileSync(rulesPath, 'utf8'));
  check(util.isDeepStrictEqual(plain, { groups: pr.spec.groups }), id(pr), `spec.groups differ from ${rulesPath}: run scripts/gen-alerts.py`);
  fs.writeFileSync(path.join(outDir, 'rustymem-rules.yaml'), YAML.stringify({ groups: pr.spec.groups }));
}
if (agentIni !== null) fs.writeFileSync(path.join(outDir, 'rustymem.ini'), agentIni);
if (authFile !== null) fs.writeFileSync(path.join(outDir, 'auth'), authFile);

if (problems.length) {
  for (const p of problems) console.error(`  ${p}`);
  console.error(`${problems.length} problem(s) in ${renderedPath}`);
  process.exit(1);
}
console.log(`${objs.length} objects valid: ${objs.map(id).join(' ')}`);
