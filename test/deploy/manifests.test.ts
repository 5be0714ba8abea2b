// The deployment files under deploy/kubernetes, deploy/istio and deploy/envoy, checked three
// ways: (1) they parse and validate against real schemas (Kubernetes/Istio/Prometheus Operator
// models, a kustomize build rendered in-process and compared with `kubectl kustomize` when kubectl
// is installed, upstream Envoy protos); (2) they agree with the server's REAL
// settings, read from src/ (ports, paths, env variable names, timeouts, health services,
// context_extensions keys); (3) the ports, paths and health services they point at are answered
// by the real server, started in-process against a fake RTI.

import { strict as assert } from 'node:assert';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { protoPath } from 'grpc-health-check';
import { parseAllDocuments } from 'yaml';
import { AUTHORIZATION_SERVICE_NAME } from '../../src/adapters/grpc/load-protos';
import { CONTEXT_EXTENSION_KEYS } from '../../src/adapters/grpc/to-attributes';
import { EXT_AUTHZ_PREFIX } from '../../src/adapters/http/envoy-http';
import { ConfigError, loadConfig } from '../../src/config/load-config';
import { schema } from '../../src/config/schema';
import { EVENT_TYPES } from '../../src/core/event-types';
import { pageHeaders } from '../../src/core/page-headers';
import { RTI_RESULT_HEADER, verdictHeaderNames } from '../../src/core/verdict-headers';
import {
  BOOTSTRAP_TYPE,
  envoyConfigValidator,
  jsonName,
  parseDuration,
} from '../helpers/envoy-config-validator';
import { FakeRti } from '../helpers/fake-rti-server';
import { configMapHash, kustomizeBuild } from '../helpers/kustomize';
import { startService, type TestService } from '../helpers/start-service';

const REPO = join(__dirname, '..', '..', '..');
const K8S_DIR = join(REPO, 'deploy', 'kubernetes');
const ISTIO_DIR = join(REPO, 'deploy', 'istio');
const ENVOY_DIR = join(REPO, 'deploy', 'envoy');
const VERSION = (
  JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as { version: string }
).version;

// ---------------------------------------------------------------------------------------------
// Shapes of what the tests read (the schemas themselves are checked by the models below).

type Labels = Record<string, string>;
interface Meta {
  name: string;
  namespace?: string;
  labels?: Labels;
}
interface KObject {
  apiVersion: string;
  kind: string;
  metadata: Meta;
}
interface Probe {
  grpc?: { port: number; service?: string };
  httpGet?: { path: string; port: number | string };
}
interface ContainerSecurityContext {
  runAsNonRoot?: boolean;
  runAsUser?: number;
  runAsGroup?: number;
  readOnlyRootFilesystem?: boolean;
  allowPrivilegeEscalation?: boolean;
  capabilities?: { drop?: string[]; add?: string[] };
  seccompProfile?: { type: string };
}
interface Container {
  name: string;
  image: string;
  ports: { name: string; containerPort: number }[];
  env?: { name: string; value?: string }[];
  envFrom?: { configMapRef?: { name: string } }[];
  readinessProbe?: Probe;
  livenessProbe?: Probe;
  startupProbe?: Probe;
  securityContext?: ContainerSecurityContext;
  resources?: { requests?: Labels; limits?: Labels };
  volumeMounts?: { name: string; mountPath: string; readOnly?: boolean }[];
}
interface PodSpec {
  serviceAccountName?: string;
  automountServiceAccountToken?: boolean;
  terminationGracePeriodSeconds?: number;
  securityContext?: ContainerSecurityContext & { fsGroup?: number };
  topologySpreadConstraints?: {
    topologyKey: string;
    whenUnsatisfiable: string;
    labelSelector: { matchLabels: Labels };
  }[];
  containers: Container[];
  volumes?: {
    name: string;
    secret?: { secretName: string; defaultMode?: number; items?: { key: string; path: string }[] };
  }[];
}
interface Deployment extends KObject {
  spec: {
    replicas?: number;
    selector: { matchLabels: Labels };
    template: { metadata: { labels: Labels; annotations?: Labels }; spec: PodSpec };
  };
}
interface ServicePort {
  name: string;
  port: number;
  targetPort: number | string;
  appProtocol?: string;
}
interface Service extends KObject {
  spec: { selector: Labels; ports: ServicePort[]; clusterIP?: string };
}
interface Hpa extends KObject {
  spec: {
    scaleTargetRef: { apiVersion: string; kind: string; name: string };
    minReplicas: number;
    maxReplicas: number;
    metrics: { type: string; resource?: { name: string; target: { type: string } } }[];
  };
}
interface Pdb extends KObject {
  spec: { maxUnavailable?: number; minAvailable?: number; selector: { matchLabels: Labels } };
}
interface ServiceMonitor extends KObject {
  spec: {
    selector: { matchLabels: Labels };
    endpoints: { port: string; path?: string }[];
  };
}
interface NetworkPolicy extends KObject {
  spec: {
    podSelector: { matchLabels: Labels };
    ingress: { from: unknown[]; ports: { port: string | number }[] }[];
  };
}
interface Secret extends KObject {
  stringData?: Labels;
  data?: Labels;
}
interface Kustomization {
  kind: string;
  namespace?: string;
  resources: string[];
  components?: string[];
  images: { name: string; newName?: string; newTag?: string }[];
  configMapGenerator: { name: string; literals: string[] }[];
}
interface GrpcProvider {
  service: string;
  port: number;
  timeout?: string;
  failOpen?: boolean;
}
interface HttpProvider extends GrpcProvider {
  pathPrefix: string;
  includeRequestHeadersInCheck: string[];
  headersToUpstreamOnAllow: string[];
  headersToDownstreamOnDeny: string[];
  headersToDownstreamOnAllow: string[];
}
interface ExtensionProvider {
  name: string;
  envoyExtAuthzGrpc?: GrpcProvider;
  envoyExtAuthzHttp?: HttpProvider;
}
interface MeshConfig {
  extensionProviders: ExtensionProvider[];
}
interface AuthorizationPolicy extends KObject {
  spec: {
    selector?: { matchLabels: Labels };
    action: string;
    provider?: { name: string };
    rules?: { to?: { operation: { paths?: string[]; notPaths?: string[] } }[] }[];
  };
}

interface StringMatcher {
  exact?: string;
  prefix?: string;
}
interface SocketAddress {
  address: string;
  port_value: number;
}
interface EnvoyCluster {
  name: string;
  connect_timeout: string;
  typed_extension_protocol_options?: Record<
    string,
    {
      '@type': string;
      explicit_http_config?: { http2_protocol_options?: object; http_protocol_options?: object };
      common_http_protocol_options?: { idle_timeout?: string };
    }
  >;
  health_checks?: {
    timeout: string;
    grpc_health_check?: { service_name?: string };
    http_health_check?: { path: string };
  }[];
  load_assignment: {
    endpoints: {
      lb_endpoints: {
        endpoint: {
          address: { socket_address: SocketAddress };
          health_check_config?: { port_value?: number };
        };
      }[];
    }[];
  };
}
interface PerRouteExtAuthz {
  '@type': string;
  disabled?: boolean;
  check_settings?: { context_extensions?: Labels };
}
interface EnvoyRoute {
  match: { prefix?: string; path?: string };
  route: { cluster: string };
  typed_per_filter_config?: Record<string, PerRouteExtAuthz>;
}
interface ExtAuthz {
  '@type': string;
  transport_api_version?: string;
  failure_mode_allow?: boolean;
  failure_mode_allow_header_add?: boolean;
  grpc_service?: { envoy_grpc: { cluster_name: string }; timeout?: string };
  allowed_headers?: { patterns: StringMatcher[] };
  http_service?: {
    server_uri: { uri: string; cluster: string; timeout: string };
    path_prefix: string;
    authorization_response: {
      allowed_upstream_headers: { patterns: StringMatcher[] };
      allowed_client_headers: { patterns: StringMatcher[] };
      allowed_client_headers_on_success: { patterns: StringMatcher[] };
    };
  };
}
interface HttpFilter {
  name: string;
  typed_config: { '@type': string };
}
interface Hcm {
  '@type': string;
  use_remote_address?: boolean;
  common_http_protocol_options?: { headers_with_underscores_action?: string };
  normalize_path?: boolean;
  merge_slashes?: boolean;
  http_filters: HttpFilter[];
  route_config: { virtual_hosts: { routes: EnvoyRoute[] }[] };
}
interface Bootstrap {
  admin: { address: { socket_address: SocketAddress } };
  static_resources: {
    listeners: {
      address: { socket_address: SocketAddress };
      filter_chains: { filters: { name: string; typed_config: Hcm }[] }[];
    }[];
    clusters: EnvoyCluster[];
  };
}

// ---------------------------------------------------------------------------------------------
// Reading the files.

/** Every .yaml/.yml/.json file below `dir`, recursively. */
function configFiles(dir: string): string[] {
  return readdirSync(dir).flatMap(entry => {
    const full = join(dir, entry);
    if (statSync(full).isDirectory()) return configFiles(full);
    return /\.(ya?ml|json)$/.test(entry) ? [full] : [];
  });
}

/** All documents of a YAML (or JSON) file; throws on any parse error or warning. */
function readDocs(file: string): unknown[] {
  const docs = parseAllDocuments(readFileSync(file, 'utf8'), { prettyErrors: true });
  const list = Array.isArray(docs) ? docs : [docs];
  for (const doc of list) {
    const problems = [...doc.errors, ...doc.warnings];
    if (problems.length > 0)
      throw new Error(`${relative(REPO, file)}: ${problems.map(p => p.message).join('; ')}`);
  }
  return list.map(doc => doc.toJS() as unknown).filter(doc => doc !== null && doc !== undefined);
}

function readOne<T>(file: string): T {
  const docs = readDocs(file);
  assert.equal(docs.length, 1, `${relative(REPO, file)}: expected one document`);
  return docs[0] as T;
}

function isKObject(doc: unknown): doc is KObject {
  return typeof doc === 'object' && doc !== null && 'apiVersion' in doc && 'kind' in doc;
}

/** Kubernetes objects of a set of files (kustomize's own files and patches, `*-patch.yaml`, excluded). */
function kubernetesObjects(files: readonly string[]): KObject[] {
  return files
    .filter(file => !file.endsWith('-patch.yaml'))
    .flatMap(readDocs)
    .filter(isKObject)
    .filter(o => !o.apiVersion.startsWith('kustomize.config.k8s.io/'));
}

function findObject<T extends KObject>(
  objects: readonly KObject[],
  kind: string,
  name?: string,
): T {
  const found = objects.filter(
    o => o.kind === kind && (name === undefined || o.metadata.name === name),
  );
  assert.equal(found.length, 1, `expected exactly one ${kind}${name ? ` ${name}` : ''}`);
  return found[0] as T;
}

function matches(selector: Labels, labels: Labels | undefined): boolean {
  return Object.entries(selector).every(([k, v]) => labels?.[k] === v);
}

/** `kustomize build DIR` as objects, rendered in-process (test/helpers/kustomize.ts). */
function kustomize(dir: string): KObject[] {
  return kustomizeBuild(dir);
}

/** `kubectl kustomize DIR` as objects; undefined when kubectl is not installed. */
function kubectlInstalled(): boolean {
  return spawnSync('kubectl', ['version', '--client'], { stdio: 'ignore' }).error === undefined;
}

function kubectlKustomize(dir: string): KObject[] | undefined {
  let out: string;
  try {
    out = execFileSync('kubectl', ['kustomize', dir], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
    });
  } catch (err: unknown) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    const stderr = (err as { stderr?: string }).stderr ?? '';
    throw new Error(`kubectl kustomize ${relative(REPO, dir)} failed: ${stderr}`);
  }
  return parseAllDocuments(out)
    .map(doc => doc.toJS() as unknown)
    .filter(isKObject);
}

/** Objects in a stable order, to compare two renderings. */
function byId(objects: readonly KObject[]): KObject[] {
  const id = (o: KObject) =>
    `${o.apiVersion} ${o.kind} ${o.metadata.namespace ?? ''}/${o.metadata.name}`;
  return [...objects].sort((a, b) => id(a).localeCompare(id(b)));
}

/** A temporary overlay directory with this kustomization.yaml; removed after `use`. */
function withOverlay<T>(kustomization: (base: string) => string, use: (dir: string) => T): T {
  const overlay = mkdtempSync(join(tmpdir(), 'cheq-overlay-'));
  try {
    const base = relative(overlay, K8S_DIR); // kustomize refuses absolute paths
    writeFileSync(join(overlay, 'kustomization.yaml'), kustomization(base));
    return use(overlay);
  } finally {
    rmSync(overlay, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------------------------
// Schema validation with kubernetes-models (ESM-only, so loaded with a dynamic import).

type Model = new (data: unknown) => { validate(): void };
type ModelClass = Model & { apiVersion: string; kind: string };

async function loadModels(): Promise<Map<string, Model>> {
  const [core, apps, autoscaling, policy, security, networking, install, monitoring, k8sNet] =
    await Promise.all([
      import('kubernetes-models/v1'),
      import('kubernetes-models/apps/v1'),
      import('kubernetes-models/autoscaling/v2'),
      import('kubernetes-models/policy/v1'),
      import('@kubernetes-models/istio/security.istio.io/v1'),
      import('@kubernetes-models/istio/networking.istio.io/v1'),
      import('@kubernetes-models/istio/install.istio.io/v1alpha1'),
      import('@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1'),
      import('kubernetes-models/networking.k8s.io/v1'),
    ]);
  const classes: ModelClass[] = [
    core.Namespace,
    core.ServiceAccount,
    core.ConfigMap,
    core.Secret,
    core.Service,
    apps.Deployment,
    autoscaling.HorizontalPodAutoscaler,
    policy.PodDisruptionBudget,
    security.AuthorizationPolicy,
    networking.DestinationRule,
    install.IstioOperator,
    monitoring.ServiceMonitor,
    k8sNet.NetworkPolicy,
  ] as unknown as ModelClass[];
  return new Map(classes.map(c => [`${c.apiVersion}/${c.kind}`, c]));
}

/** Schema errors of one object ("" when valid); unknown kinds are an error too. */
function schemaErrors(models: Map<string, Model>, object: KObject): string {
  const model = models.get(`${object.apiVersion}/${object.kind}`);
  if (!model) return `no schema for ${object.apiVersion} ${object.kind}`;
  try {
    new model(object).validate();
    return '';
  } catch (err: unknown) {
    return (err as Error).message;
  }
}

// ---------------------------------------------------------------------------------------------
// The server's real settings.

type PortSetting = 'grpc_port' | 'http_port' | 'metrics_port';

/** Environment variable names the server reads: the schema's, plus CHEQ_CONFIG_FILE. */
const SETTING_ENV_NAMES: ReadonlySet<string> = new Set([
  ...Object.values(schema).map(s => s.env),
  'CHEQ_CONFIG_FILE',
]);

function unknownEnvNames(names: Iterable<string>): string[] {
  return [...names].filter(name => !SETTING_ENV_NAMES.has(name));
}

/** `KEY=VALUE` literals of a configMapGenerator, as kustomize reads them. */
function parseLiterals(literals: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const literal of literals) {
    const eq = literal.indexOf('=');
    assert.ok(eq > 0, `configMapGenerator literal without KEY=: ${literal}`);
    out[literal.slice(0, eq)] = literal.slice(eq + 1);
  }
  return out;
}

function includeListToMatchers(list: readonly string[]): StringMatcher[] {
  return list.map(entry =>
    entry.endsWith('*') ? { prefix: entry.slice(0, -1) } : { exact: entry },
  );
}

interface HealthClient extends grpc.Client {
  Check(
    request: { service: string },
    callback: (err: grpc.ServiceError | null, response?: { status: string }) => void,
  ): void;
}

function healthStatus(address: string, service: string): Promise<string> {
  const definition = protoLoader.loadSync(protoPath, { keepCase: true, enums: String });
  const pkg = grpc.loadPackageDefinition(definition) as unknown as {
    grpc: {
      health: { v1: { Health: new (a: string, c: grpc.ChannelCredentials) => HealthClient } };
    };
  };
  const client = new pkg.grpc.health.v1.Health(address, grpc.credentials.createInsecure());
  return new Promise<string>((resolve, reject) =>
    client.Check({ service }, (err, response) => {
      client.close();
      if (err) reject(err);
      else resolve(response?.status ?? '');
    }),
  );
}

// ---------------------------------------------------------------------------------------------

describe('deploy manifests', () => {
  const k8sFiles = configFiles(K8S_DIR);
  const kustomization = readOne<Kustomization>(join(K8S_DIR, 'kustomization.yaml'));
  const k8s = kubernetesObjects(k8sFiles);
  const deployment = findObject<Deployment>(k8s, 'Deployment', 'cheq-rti-authz');
  const service = findObject<Service>(k8s, 'Service', 'cheq-rti-authz');
  const headless = findObject<Service>(k8s, 'Service', 'cheq-rti-authz-headless');
  const secretExample = readOne<Secret>(join(K8S_DIR, 'secret.example.yaml'));
  const pod = deployment.spec.template.spec;
  const container = pod.containers[0] as Container;
  const generator = kustomization.configMapGenerator.find(g => g.name === 'cheq-rti-authz');
  const configMapEnv = parseLiterals(generator?.literals ?? []);
  const containerEnv = Object.fromEntries((container.env ?? []).map(e => [e.name, e.value ?? '']));
  /** What the server sees: ConfigMap (envFrom), overridden by the container's own env. */
  const effectiveEnv: Record<string, string> = { ...configMapEnv, ...containerEnv };
  const setting = (key: keyof typeof schema): string | undefined => effectiveEnv[schema[key].env];
  const port = (key: PortSetting): number => Number(setting(key) ?? schema[key].default);
  const containerPort = (name: string | number): number => {
    if (typeof name === 'number') return name;
    const found = container.ports.find(p => p.name === name);
    assert.ok(found, `no container port named ${name}`);
    return found.containerPort;
  };
  const servicePort = (svc: Service, name: string): ServicePort => {
    const found = svc.spec.ports.find(p => p.name === name);
    assert.ok(found, `Service ${svc.metadata.name} has no port named ${name}`);
    return found;
  };

  const meshConfig = readOne<{ spec: { meshConfig: MeshConfig } }>(
    join(ISTIO_DIR, 'extension-providers.yaml'),
  ).spec.meshConfig;
  const provider = (name: string): ExtensionProvider => {
    const found = meshConfig.extensionProviders.find(p => p.name === name);
    assert.ok(found, `no extension provider ${name}`);
    return found;
  };
  const grpcProvider = provider('cheq-authz-grpc').envoyExtAuthzGrpc as GrpcProvider;
  const httpProvider = provider('cheq-authz-http').envoyExtAuthzHttp as HttpProvider;
  const policy = readOne<AuthorizationPolicy>(join(ISTIO_DIR, 'authorization-policy.yaml'));

  const envoyGrpc = readOne<Bootstrap>(join(ENVOY_DIR, 'envoy.yaml'));
  const envoyHttp = readOne<Bootstrap>(join(ENVOY_DIR, 'envoy-http.yaml'));
  const hcmOf = (bootstrap: Bootstrap): Hcm => {
    const hcm = bootstrap.static_resources.listeners[0]?.filter_chains[0]?.filters[0];
    assert.equal(hcm?.name, 'envoy.filters.network.http_connection_manager');
    return hcm.typed_config;
  };
  const extAuthzOf = (bootstrap: Bootstrap): { name: string; config: ExtAuthz } => {
    const filters = hcmOf(bootstrap).http_filters;
    // Only the header mutation that sets the TLS facts (overwriting a client's) runs before it.
    const mutation = filters[0] as HttpFilter;
    assert.equal(mutation.name, 'envoy.filters.http.header_mutation');
    const first = filters[1] as HttpFilter;
    assert.equal(
      first.typed_config['@type'],
      'type.googleapis.com/envoy.extensions.filters.http.ext_authz.v3.ExtAuthz',
      'ext_authz is the first HTTP filter after the header mutation',
    );
    assert.equal(filters.at(-1)?.name, 'envoy.filters.http.router', 'the router is the last');
    return { name: first.name, config: first.typed_config };
  };
  const clusterOf = (bootstrap: Bootstrap, name: string): EnvoyCluster => {
    const found = bootstrap.static_resources.clusters.find(c => c.name === name);
    assert.ok(found, `no cluster ${name}`);
    return found;
  };
  const endpointOf = (cluster: EnvoyCluster) => {
    const endpoints = cluster.load_assignment.endpoints.flatMap(e => e.lb_endpoints);
    assert.equal(endpoints.length, 1, `${cluster.name}: one endpoint (a DNS name)`);
    return (endpoints[0] as (typeof endpoints)[number]).endpoint;
  };
  const routesOf = (bootstrap: Bootstrap): EnvoyRoute[] =>
    hcmOf(bootstrap).route_config.virtual_hosts.flatMap(v => v.routes);

  describe('parsing and schemas', () => {
    let models: Map<string, Model>;
    before(async () => {
      models = await loadModels();
    });

    it('every YAML/JSON file under deploy/kubernetes, deploy/istio and deploy/envoy parses', () => {
      const files = [K8S_DIR, ISTIO_DIR, ENVOY_DIR].flatMap(configFiles);
      assert.ok(files.length >= 15, `found only ${files.length} files`);
      for (const file of files)
        assert.ok(readDocs(file).length > 0, `${relative(REPO, file)} is empty`);
    });

    it('Kubernetes, Istio and Prometheus Operator objects validate against their schemas', () => {
      const objects = kubernetesObjects([...k8sFiles, ...configFiles(ISTIO_DIR)]);
      const kinds = new Set(objects.map(o => o.kind));
      for (const kind of [
        'Namespace',
        'ServiceAccount',
        'Deployment',
        'Service',
        'HorizontalPodAutoscaler',
        'PodDisruptionBudget',
        'Secret',
        'ServiceMonitor',
        'AuthorizationPolicy',
        'IstioOperator',
      ])
        assert.ok(kinds.has(kind), `no ${kind} shipped`);
      const problems = objects
        .map(o => [o, schemaErrors(models, o)] as const)
        .filter(([, error]) => error !== '')
        .map(([o, error]) => `${o.kind} ${o.metadata?.name ?? ''}: ${error}`);
      assert.deepEqual(problems, []);
    });

    it('the schema check itself rejects a broken object', () => {
      const broken = structuredClone(deployment) as unknown as {
        spec: { template: { spec: { containers: { ports: { containerPort: unknown }[] }[] } } };
      };
      const firstPort = broken.spec.template.spec.containers[0]?.ports[0];
      assert.ok(firstPort);
      firstPort.containerPort = 'grpc';
      assert.match(schemaErrors(models, broken as unknown as KObject), /containerPort/);
      const badPolicy = { ...policy, spec: { ...policy.spec, action: 'CUSTUM' } };
      assert.match(schemaErrors(models, badPolicy), /action/);
    });

    it('Istio extension providers use only fields of istio-api MeshConfig.ExtensionProvider', () => {
      // IstioOperator's published schema leaves meshConfig open, so check the provider fields
      // against istio/api mesh/v1alpha1/config.proto (EnvoyExternalAuthorization*Provider).
      const body = ['maxRequestBytes', 'allowPartialMessage', 'packAsBytes'];
      const grpcFields = [
        'service',
        'port',
        'timeout',
        'failOpen',
        'statusOnError',
        'clearRouteCache',
        'includeRequestBodyInCheck',
      ];
      const httpFields = [
        ...grpcFields,
        'pathPrefix',
        'includeHeadersInCheck',
        'includeRequestHeadersInCheck',
        'includeAdditionalHeadersInCheck',
        'headersToUpstreamOnAllow',
        'headersToDownstreamOnDeny',
        'headersToDownstreamOnAllow',
      ];
      const allowed: Record<string, string[]> = {
        envoyExtAuthzGrpc: grpcFields,
        envoyExtAuthzHttp: httpFields,
      };
      const names = new Set<string>();
      for (const entry of meshConfig.extensionProviders) {
        assert.ok(!names.has(entry.name), `provider ${entry.name} defined twice`);
        names.add(entry.name);
        const kinds = Object.keys(entry).filter(k => k !== 'name');
        assert.equal(kinds.length, 1, `${entry.name}: exactly one provider kind`);
        const kind = kinds[0] as string;
        assert.ok(kind in allowed, `${entry.name}: unexpected provider kind ${kind}`);
        const fields = (entry as unknown as Record<string, Record<string, unknown>>)[kind] ?? {};
        for (const [key, value] of Object.entries(fields)) {
          assert.ok(allowed[kind]?.includes(key), `${entry.name}: unknown field ${kind}.${key}`);
          if (key === 'includeRequestBodyInCheck')
            for (const k of Object.keys(value as object)) assert.ok(body.includes(k), k);
        }
        assert.equal(typeof fields['service'], 'string', `${entry.name}: service`);
        assert.ok(Number.isInteger(fields['port']), `${entry.name}: port must be a number`);
      }
    });

    it('istiod-values.yaml (Helm) registers exactly the providers of extension-providers.yaml', () => {
      const values = readOne<{ meshConfig: MeshConfig }>(join(ISTIO_DIR, 'istiod-values.yaml'));
      assert.deepEqual(values.meshConfig, meshConfig);
    });

    it('new replicas ramp up: Istio DestinationRule and Envoy clusters use slow start', () => {
      const rule = readOne<{
        spec: { host: string; trafficPolicy: { loadBalancer: Record<string, unknown> } };
      }>(join(ISTIO_DIR, 'destination-rule.yaml'));
      const hosts = (meshConfig.extensionProviders ?? []).map(
        p => (p.envoyExtAuthzGrpc ?? p.envoyExtAuthzHttp)?.['service'],
      );
      assert.ok(hosts.includes(rule.spec.host), `${rule.spec.host} is the providers' service`);
      const lb = rule.spec.trafficPolicy.loadBalancer;
      assert.ok(['ROUND_ROBIN', 'LEAST_REQUEST'].includes(String(lb['simple'])));
      assert.equal(lb['warmupDurationSecs'], '30s');
      for (const [file, name] of [
        ['envoy.yaml', 'cheq_authz'],
        ['envoy-http.yaml', 'cheq_authz_http'],
      ] as const) {
        const bootstrap = readOne<{
          static_resources: { clusters: { name: string; [key: string]: unknown }[] };
        }>(join(ENVOY_DIR, file));
        const cluster = bootstrap.static_resources.clusters.find(c => c.name === name);
        assert.equal(cluster?.['lb_policy'], 'ROUND_ROBIN', `${file} ${name}`);
        assert.deepEqual(cluster?.['round_robin_lb_config'], {
          slow_start_config: { slow_start_window: '30s' },
        });
      }
    });

    it('Envoy bootstraps validate strictly against the upstream Envoy protos', () => {
      const validator = envoyConfigValidator();
      for (const file of configFiles(ENVOY_DIR)) {
        assert.deepEqual(validator.validateBootstrap(readOne(file)), [], relative(REPO, file));
      }
    });
  });

  describe('Envoy config validator (can it fail?)', () => {
    const validate = (config: unknown): string[] =>
      envoyConfigValidator().validateBootstrap(config);
    const cluster = (fields: Record<string, unknown>) => ({
      static_resources: { clusters: [{ name: 'c', connect_timeout: '1s', ...fields }] },
    });
    const withFilter = (typedConfig: Record<string, unknown>) => ({
      static_resources: {
        listeners: [
          {
            name: 'l',
            address: { socket_address: { address: '0.0.0.0', port_value: 1 } },
            filter_chains: [{ filters: [{ name: 'f', typed_config: typedConfig }] }],
          },
        ],
      },
    });
    const EXT_AUTHZ = 'type.googleapis.com/envoy.extensions.filters.http.ext_authz.v3.ExtAuthz';

    it('accepts a valid config, with proto or JSON (camelCase) field names', () => {
      assert.deepEqual(validate(cluster({ type: 'STRICT_DNS' })), []);
      assert.deepEqual(
        validate({ staticResources: { clusters: [{ name: 'c', connectTimeout: '0.1s' }] } }),
        [],
      );
      assert.equal(jsonName('failure_mode_allow_header_add'), 'failureModeAllowHeaderAdd');
    });

    it('rejects a misspelled field', () => {
      const errors = validate(cluster({ conect_timeout: '1s' }));
      assert.equal(errors.length, 1, errors.join('\n'));
      assert.match(errors[0] ?? '', /clusters\[0\]\.conect_timeout: unknown field/);
    });

    it('rejects a wrong type: a string port, a bare number or "250ms" as a Duration, a bad enum', () => {
      assert.match(
        validate({
          admin: { address: { socket_address: { address: 'x', port_value: 'abc' } } },
        }).join(),
        /port_value: expected uint32/,
      );
      assert.match(
        validate(cluster({ connect_timeout: 0.25 })).join(),
        /Duration must be a string/,
      );
      assert.match(
        validate(cluster({ connect_timeout: '250ms' })).join(),
        /Duration must be a string/,
      );
      assert.match(validate(cluster({ type: 'STRICT' })).join(), /not a value of enum/);
      assert.match(validate(cluster({ respect_dns_ttl: 'yes' })).join(), /expected bool/);
    });

    it('rejects an unknown @type, and unknown fields inside a known one', () => {
      const nope = 'type.googleapis.com/envoy.extensions.filters.http.nope.v3.Nope';
      assert.match(validate(withFilter({ '@type': nope })).join(), /unknown @type .*nope/);
      const typo = validate(withFilter({ '@type': EXT_AUTHZ, failure_mode_alow: true }));
      assert.match(typo.join(), /failure_mode_alow: unknown field .*\.ExtAuthz$/);
    });

    it('rejects two members of one oneof, and a missing required field', () => {
      const both = validate(
        withFilter({
          '@type': EXT_AUTHZ,
          grpc_service: { envoy_grpc: { cluster_name: 'a' } },
          http_service: { server_uri: { uri: 'http://a', cluster: 'a', timeout: '1s' } },
        }),
      );
      assert.match(both.join(), /oneof "services" has two members set/);
      assert.match(
        validate(cluster({ type: 'STATIC', cluster_type: { name: 'x' } })).join(),
        /oneof/,
      );
      assert.match(
        validate({ static_resources: { clusters: [{ connect_timeout: '1s' }] } }).join(),
        /missing required field "name"/,
      );
    });

    it('reports deprecated fields (e.g. authorization_request.allowed_headers)', () => {
      const errors = validate(
        withFilter({
          '@type': EXT_AUTHZ,
          http_service: {
            server_uri: { uri: 'http://a', cluster: 'a', timeout: '1s' },
            authorization_request: { allowed_headers: { patterns: [{ exact: 'cookie' }] } },
          },
        }),
      );
      assert.match(errors.join(), /deprecated field .*AuthorizationRequest\.allowed_headers/);
    });

    it('knows the bootstrap type', () => {
      assert.match(envoyConfigValidator().validate('nope.Nope', {}).join(), /unknown message type/);
      assert.deepEqual(envoyConfigValidator().validate(BOOTSTRAP_TYPE, {}), []);
    });
  });

  describe('Kubernetes base', () => {
    it('every environment variable it sets is a real setting (a typo fails)', () => {
      assert.ok(generator, 'configMapGenerator cheq-rti-authz');
      assert.deepEqual(unknownEnvNames(Object.keys(configMapEnv)), [], 'ConfigMap');
      assert.deepEqual(unknownEnvNames(Object.keys(containerEnv)), [], 'container env');
      assert.deepEqual(unknownEnvNames(['CHEQ_TAG_HASH', 'CHEQ_TAG_HSAH']), ['CHEQ_TAG_HSAH']);
      for (const name of ['CHEQ_TAG_HASH', 'CHEQ_API_ENDPOINT', 'CHEQ_MODE', 'CHEQ_TIMEOUT_MS'])
        assert.ok(name in configMapEnv, `ConfigMap sets ${name}`);
    });

    it('the settings load in the real config loader once the two REQUIRED values are set', () => {
      const dir = mkdtempSync(join(tmpdir(), 'cheq-deploy-'));
      try {
        const keyFile = join(dir, 'api-key');
        writeFileSync(keyFile, 'test-key\n');
        const env = { ...effectiveEnv, CHEQ_API_KEY_FILE: keyFile };
        // As shipped, the two placeholders stop the server, naming exactly them.
        assert.throws(
          () => loadConfig({ env, args: [] }),
          (err: unknown) =>
            err instanceof ConfigError &&
            err.problems.length === 2 &&
            err.problems.some(p => p.includes('CHEQ_TAG_HASH')) &&
            err.problems.some(p => p.includes('CHEQ_API_ENDPOINT')),
        );
        const config = loadConfig({
          env: {
            ...env,
            CHEQ_TAG_HASH: 'abc123',
            CHEQ_API_ENDPOINT: 'https://rti-global.cheqzone.com',
          },
          args: [],
        });
        assert.deepEqual(config.warnings, []);
        assert.equal(config.server.grpcPort, port('grpc_port'));
        assert.equal(config.server.metricsPort, port('metrics_port'));
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });

    it('the challenge secret example: its placeholders stop the server, a real secret from its key loads', () => {
      const example = readOne<Secret>(join(K8S_DIR, 'challenge-secret.example.yaml'));
      assert.ok(!kustomization.resources.includes('challenge-secret.example.yaml'));
      const dir = mkdtempSync(join(tmpdir(), 'cheq-deploy-'));
      try {
        const keyFile = join(dir, 'api-key');
        writeFileSync(keyFile, 'test-key\n');
        const secretFile = join(dir, 'secret');
        const env = {
          ...effectiveEnv,
          CHEQ_API_KEY_FILE: keyFile,
          CHEQ_TAG_HASH: 'abc123',
          CHEQ_API_ENDPOINT: 'https://rti-global.cheqzone.com',
          CHEQ_CHALLENGE_SECRET_FILE: secretFile,
        };
        writeFileSync(secretFile, example.stringData?.['secret'] ?? '');
        assert.throws(
          () => loadConfig({ env, args: [] }),
          (err: unknown) =>
            err instanceof ConfigError && err.problems.some(p => p.includes('challenge_secret')),
        );
        writeFileSync(secretFile, 'a'.repeat(48));
        assert.ok(loadConfig({ env, args: [] }));
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });

    it('container ports and Service ports are the server ports (CHEQ_GRPC_PORT, CHEQ_HTTP_PORT, CHEQ_METRICS_PORT)', () => {
      const expected: [string, PortSetting][] = [
        ['grpc', 'grpc_port'],
        ['http', 'http_port'],
        ['metrics', 'metrics_port'],
      ];
      assert.equal(port('grpc_port'), schema.grpc_port.default, 'no port override expected');
      for (const [name, key] of expected) {
        assert.equal(containerPort(name), port(key), `container port ${name}`);
        const svc = servicePort(service, name);
        assert.equal(containerPort(svc.targetPort), port(key), `Service ${name} targetPort`);
        assert.equal(svc.port, port(key), `Service ${name} port (the number the docs use)`);
      }
      const annotations = deployment.spec.template.metadata.annotations ?? {};
      assert.equal(annotations['prometheus.io/port'], String(port('metrics_port')));
      assert.equal(annotations['prometheus.io/path'], '/metrics');
      assert.equal(servicePort(service, 'grpc').appProtocol, 'grpc', 'Istio must see gRPC');
      assert.equal(servicePort(service, 'http').appProtocol, 'http');
      for (const name of ['grpc', 'http'])
        assert.equal(
          containerPort(servicePort(headless, name).targetPort),
          port(`${name}_port` as PortSetting),
        );
      assert.equal(headless.spec.clusterIP, 'None');
      assert.ok(
        !headless.spec.ports.some(p => p.name === 'metrics'),
        'scraped once, via the main Service',
      );
    });

    it('probes: gRPC readiness on the gRPC port number, HTTP liveness on /healthz of the metrics port', () => {
      const readiness = container.readinessProbe;
      assert.equal(typeof readiness?.grpc?.port, 'number', 'gRPC probes need a port number');
      assert.equal(readiness?.grpc?.port, port('grpc_port'));
      const liveness = container.livenessProbe?.httpGet;
      assert.ok(liveness);
      assert.equal(containerPort(liveness.port), port('metrics_port'));
      assert.equal(liveness.path, '/healthz');
    });

    it('selectors: Services, PDB, spread constraints and ServiceMonitor select the pods', () => {
      const podLabels = deployment.spec.template.metadata.labels;
      assert.ok(matches(deployment.spec.selector.matchLabels, podLabels));
      for (const svc of [service, headless])
        assert.ok(matches(svc.spec.selector, podLabels), svc.metadata.name);
      const pdb = findObject<Pdb>(k8s, 'PodDisruptionBudget');
      assert.ok(matches(pdb.spec.selector.matchLabels, podLabels));
      const keys = (pod.topologySpreadConstraints ?? []).map(c => {
        assert.ok(matches(c.labelSelector.matchLabels, podLabels));
        return c.topologyKey;
      });
      assert.deepEqual(keys.sort(), ['kubernetes.io/hostname', 'topology.kubernetes.io/zone']);
      const zone = pod.topologySpreadConstraints?.find(c => c.topologyKey.includes('zone'));
      assert.equal(
        zone?.whenUnsatisfiable,
        'ScheduleAnyway',
        'clusters without zones still schedule',
      );

      const monitor = findObject<ServiceMonitor>(k8s, 'ServiceMonitor');
      const scraped = [service, headless].filter(s =>
        matches(monitor.spec.selector.matchLabels, s.metadata.labels),
      );
      const endpoint = monitor.spec.endpoints[0];
      assert.equal(endpoint?.path, '/metrics');
      const withPort = scraped.filter(s => s.spec.ports.some(p => p.name === endpoint.port));
      assert.deepEqual(
        withPort.map(s => s.metadata.name),
        ['cheq-rti-authz'],
        'job="cheq-rti-authz", each pod once',
      );
      assert.equal(
        containerPort(servicePort(service, endpoint.port).targetPort),
        port('metrics_port'),
      );
    });

    it('replicas, HPA and PDB keep at least two pods and allow drains', () => {
      assert.ok((deployment.spec.replicas ?? 1) >= 2);
      const hpa = findObject<Hpa>(k8s, 'HorizontalPodAutoscaler');
      assert.deepEqual(hpa.spec.scaleTargetRef, {
        apiVersion: 'apps/v1',
        kind: 'Deployment',
        name: deployment.metadata.name,
      });
      assert.ok(hpa.spec.minReplicas >= 2 && hpa.spec.maxReplicas > hpa.spec.minReplicas);
      assert.equal(hpa.spec.metrics[0]?.resource?.name, 'cpu');
      assert.ok(container.resources?.requests?.['cpu'], 'CPU utilization needs a CPU request');
      const pdb = findObject<Pdb>(k8s, 'PodDisruptionBudget');
      assert.equal(pdb.spec.maxUnavailable, 1);
      for (const r of ['cpu', 'memory']) {
        assert.ok(container.resources?.requests?.[r], `request ${r}`);
        assert.ok(container.resources?.limits?.[r], `limit ${r}`);
      }
    });

    it('terminationGracePeriodSeconds exceeds CHEQ_SHUTDOWN_DELAY_MS + CHEQ_SHUTDOWN_GRACE_MS', () => {
      const delay = Number(setting('shutdown_delay_ms') ?? schema.shutdown_delay_ms.default);
      const grace = Number(setting('shutdown_grace_ms') ?? schema.shutdown_grace_ms.default);
      assert.ok(
        delay >= 1000,
        `CHEQ_SHUTDOWN_DELAY_MS=${delay}: a few seconds, so endpoints are removed first`,
      );
      assert.ok((pod.terminationGracePeriodSeconds ?? 30) > (delay + grace) / 1000);
    });

    it('security: non-root uid 1000, read-only root, no privilege escalation, no capabilities', () => {
      const sc = container.securityContext ?? {};
      const podSc = pod.securityContext ?? {};
      assert.equal(sc.runAsNonRoot ?? podSc.runAsNonRoot, true);
      assert.equal(sc.runAsUser ?? podSc.runAsUser, 1000);
      assert.equal(sc.readOnlyRootFilesystem, true);
      assert.equal(sc.allowPrivilegeEscalation, false);
      assert.deepEqual(sc.capabilities?.drop, ['ALL']);
      assert.equal(sc.capabilities?.add, undefined);
      assert.equal((sc.seccompProfile ?? podSc.seccompProfile)?.type, 'RuntimeDefault');
      assert.equal(pod.automountServiceAccountToken, false);
      const ns = findObject<KObject>(k8s, 'Namespace', kustomization.namespace);
      assert.equal(ns.metadata.labels?.['pod-security.kubernetes.io/enforce'], 'restricted');
    });

    it('the API key: a Secret file inside the mount that CHEQ_API_KEY_FILE names, readable by uid 1000', () => {
      const keyFile = containerEnv['CHEQ_API_KEY_FILE'];
      assert.ok(keyFile, 'CHEQ_API_KEY_FILE is set');
      assert.ok(!('CHEQ_API_KEY' in effectiveEnv), 'the key itself is never an env value');
      const volume = pod.volumes?.find(v => v.secret?.secretName === secretExample.metadata.name);
      assert.ok(volume?.secret, `a volume of Secret ${secretExample.metadata.name}`);
      const mount = container.volumeMounts?.find(m => m.name === volume.name);
      assert.ok(mount, 'the Secret volume is mounted');
      assert.equal(mount.readOnly, true);
      assert.ok(
        keyFile.startsWith(`${mount.mountPath}/`),
        `${keyFile} is inside ${mount.mountPath}`,
      );
      const fileName = keyFile.slice(mount.mountPath.length + 1);
      const item = volume.secret.items?.find(i => i.path === fileName);
      assert.ok(item, `the Secret projects a file named ${fileName}`);
      assert.ok(
        item.key in (secretExample.stringData ?? secretExample.data ?? {}),
        `secret key ${item.key}`,
      );
      const mode = volume.secret.defaultMode ?? 0o644;
      const gid = pod.securityContext?.fsGroup;
      assert.ok(
        (mode & 0o004) !== 0 || (gid === pod.securityContext?.runAsGroup && (mode & 0o040) !== 0),
      );
      assert.ok(
        !kustomization.resources.some(r => r.includes('secret')),
        'no Secret in the base resources',
      );
    });

    it('the image is cheq-rti-authz at the version of package.json', () => {
      assert.equal(container.image, `cheq-rti-authz:${VERSION}`);
      const image = kustomization.images.find(i => i.name === 'cheq-rti-authz');
      assert.equal(image?.newTag, VERSION);
      assert.equal(container.envFrom?.[0]?.configMapRef?.name, generator?.name);
    });
  });

  describe('kustomize build', () => {
    let rendered: KObject[];
    before(() => {
      rendered = kustomize(K8S_DIR);
    });
    const overlayWithServiceMonitor = (base: string) =>
      `resources: [${base}]\ncomponents: [${base}/components/servicemonitor]\n`;

    it('renders every resource into namespace cheq, with the hashed ConfigMap wired in', async () => {
      const models = await loadModels();
      assert.deepEqual(
        rendered.map(o => schemaErrors(models, o)).filter(e => e !== ''),
        [],
      );
      for (const o of rendered.filter(o => o.kind !== 'Namespace'))
        assert.equal(o.metadata.namespace, 'cheq', `${o.kind} ${o.metadata.name}`);
      const configMap = findObject<KObject & { data: Labels }>(rendered, 'ConfigMap');
      assert.match(configMap.metadata.name, /^cheq-rti-authz-[a-z0-9]{10}$/);
      assert.deepEqual(configMap.data, configMapEnv);
      const d = findObject<Deployment>(rendered, 'Deployment');
      const c = d.spec.template.spec.containers[0];
      assert.equal(c?.envFrom?.[0]?.configMapRef?.name, configMap.metadata.name);
      assert.equal(c?.image, `cheq-rti-authz:${VERSION}`);
      assert.deepEqual(d.spec.selector, deployment.spec.selector, 'labels: never in selectors');
      for (const o of rendered)
        assert.equal(
          o.metadata.labels?.['app.kubernetes.io/part-of'],
          'cheq-rti-authz',
          `${o.kind} ${o.metadata.name}: the kustomization's labels`,
        );
      assert.equal(
        d.spec.template.metadata.labels['app.kubernetes.io/managed-by'],
        'kustomize',
        'labels: includeTemplates',
      );
      assert.ok(!rendered.some(o => o.kind === 'Secret' || o.kind === 'ServiceMonitor'));
    });

    it('the servicemonitor component adds the ServiceMonitor when an overlay enables it', function () {
      const objects = withOverlay(overlayWithServiceMonitor, kustomize);
      const monitor = findObject<ServiceMonitor>(objects, 'ServiceMonitor');
      assert.equal(monitor.metadata.namespace, 'cheq');
      assert.equal(objects.length, rendered.length + 1);
    });

    it('the networkpolicy component lets only listed peers reach the check ports', async function () {
      const objects = withOverlay(
        base => `resources: [${base}]\ncomponents: [${base}/components/networkpolicy]\n`,
        kustomize,
      );
      assert.equal(objects.length, rendered.length + 1);
      const policy = findObject<NetworkPolicy>(objects, 'NetworkPolicy');
      assert.equal(schemaErrors(await loadModels(), policy), '');
      assert.equal(policy.metadata.namespace, 'cheq');
      const d = findObject<Deployment>(rendered, 'Deployment');
      assert.deepEqual(policy.spec.podSelector.matchLabels, d.spec.selector.matchLabels);
      const containerPorts = (d.spec.template.spec.containers[0]?.ports ?? []).map(p => p.name);
      const rules = policy.spec.ingress;
      for (const port of ['grpc', 'http', 'metrics']) {
        assert.ok(containerPorts.includes(port), `${port}: a container port`);
        const rule = rules.find(r => r.ports.some(p => p.port === port));
        // A rule without `from` admits every peer: exactly what the policy exists to prevent.
        assert.ok((rule?.from.length ?? 0) > 0, `${port}: reachable from listed peers only`);
      }
      assert.deepEqual(
        rules.flatMap(r => r.ports.map(p => p.port)).sort(),
        ['grpc', 'http', 'metrics'],
        'no other port is opened',
      );
    });

    describe('the redis component (the verdict memory shared across replicas)', () => {
      const overlayWithRedis = (base: string) =>
        `resources: [${base}]\ncomponents: [${base}/components/redis]\n`;
      const REDIS_DIR = join(K8S_DIR, 'components', 'redis');
      let objects: KObject[];
      let ours: Deployment;
      let redis: Deployment;
      before(() => {
        objects = withOverlay(overlayWithRedis, kustomize);
        ours = findObject<Deployment>(objects, 'Deployment', 'cheq-rti-authz');
        redis = findObject<Deployment>(objects, 'Deployment', 'cheq-rti-authz-redis');
      });
      const envOf = (d: Deployment): Record<string, string> =>
        Object.fromEntries(
          (d.spec.template.spec.containers[0]?.env ?? []).map(e => [e.name, e.value ?? '']),
        );

      it('adds a Redis Deployment, its Service and NetworkPolicy in namespace cheq, all schema-valid', async () => {
        const models = await loadModels();
        const added = objects.filter(
          o => !rendered.some(r => r.kind === o.kind && r.metadata.name === o.metadata.name),
        );
        assert.deepEqual(added.map(o => `${o.kind} ${o.metadata.name}`).sort(), [
          'Deployment cheq-rti-authz-redis',
          'NetworkPolicy cheq-rti-authz-redis',
          'Service cheq-rti-authz-redis',
        ]);
        for (const o of objects) {
          assert.equal(schemaErrors(models, o), '', `${o.kind} ${o.metadata.name}`);
          if (o.kind !== 'Namespace') assert.equal(o.metadata.namespace, 'cheq');
        }
        assert.ok(!objects.some(o => o.kind === 'Secret'), 'the password stays out of git');
      });

      it('points our pods at it, the password a file of the mounted Secret, and the real loader reads it', () => {
        const env = envOf(ours);
        const service = findObject<Service>(objects, 'Service', 'cheq-rti-authz-redis');
        const url = new URL(env['CHEQ_REDIS_URL'] ?? '');
        assert.equal(url.hostname, service.metadata.name);
        assert.equal(Number(url.port), service.spec.ports[0]?.port);
        assert.equal(url.password, '', 'no password in the URL');
        const passwordFile = env['CHEQ_REDIS_PASSWORD_FILE'] ?? '';
        const pod = ours.spec.template.spec;
        const mount = pod.containers[0]?.volumeMounts?.find(m =>
          passwordFile.startsWith(`${m.mountPath}/`),
        );
        assert.ok(mount?.readOnly, 'the password file is inside a read-only mount');
        const volume = pod.volumes?.find(v => v.name === mount.name);
        assert.equal(volume?.secret?.secretName, 'cheq-rti-authz-redis');
        assert.deepEqual(
          volume.secret.items?.map(i => `${mount.mountPath}/${i.path}`),
          [passwordFile],
        );
        // The same Secret key is Redis's password.
        const redisVolume = redis.spec.template.spec.volumes?.find(
          v => v.secret?.secretName === 'cheq-rti-authz-redis',
        );
        assert.deepEqual(redisVolume?.secret?.items, volume.secret.items);
        const example = readOne<Secret>(join(REDIS_DIR, 'redis-secret.example.yaml'));
        assert.equal(example.metadata.name, 'cheq-rti-authz-redis');
        assert.deepEqual(
          Object.keys(example.stringData ?? {}),
          volume.secret.items?.map(i => i.key),
        );
        // What the server makes of it, through the real config loader.
        const dir = mkdtempSync(join(tmpdir(), 'cheq-deploy-'));
        try {
          writeFileSync(join(dir, 'api-key'), 'test-key\n');
          writeFileSync(join(dir, 'password'), 'redis-secret\n');
          const config = loadConfig({
            env: {
              ...effectiveEnv,
              ...env,
              CHEQ_API_KEY_FILE: join(dir, 'api-key'),
              CHEQ_REDIS_PASSWORD_FILE: join(dir, 'password'),
              CHEQ_TAG_HASH: 'abc123',
              CHEQ_API_ENDPOINT: 'https://rti-global.cheqzone.com',
            },
            args: [],
          });
          assert.equal(config.redis?.host, 'cheq-rti-authz-redis');
          assert.equal(config.redis?.port, 6379);
          assert.equal(config.redis?.password, 'redis-secret');
        } finally {
          rmSync(dir, { recursive: true, force: true });
        }
      });

      it('Redis: AUTH from the Secret on stdin, nothing saved, hardened like ours', () => {
        const pod = redis.spec.template.spec;
        const container = pod.containers[0] as Container & { command?: string[] };
        const script = (container.command ?? []).join(' ');
        assert.match(script, /requirepass/);
        assert.match(script, /redis-server - /, 'the configuration (with the password) on stdin');
        assert.match(script, /--save '' --appendonly no/);
        assert.ok(!/\$\(?REDIS_PASSWORD|--requirepass/.test(script), 'no password in argv');
        const sc = container.securityContext;
        assert.equal(sc?.runAsNonRoot, true);
        assert.equal(sc?.readOnlyRootFilesystem, true);
        assert.equal(sc?.allowPrivilegeEscalation, false);
        assert.deepEqual(sc?.capabilities?.drop, ['ALL']);
        assert.equal(pod.automountServiceAccountToken, false);
        assert.ok(container.resources?.limits?.['memory'], 'a memory limit');
        const service = findObject<Service>(objects, 'Service', 'cheq-rti-authz-redis');
        assert.deepEqual(service.spec.selector, redis.spec.selector.matchLabels);
        assert.equal(
          container.ports.find(p => p.name === service.spec.ports[0]?.targetPort)?.containerPort,
          6379,
        );
      });

      it('only our pods reach Redis', () => {
        const policy = findObject<NetworkPolicy>(objects, 'NetworkPolicy', 'cheq-rti-authz-redis');
        assert.deepEqual(policy.spec.podSelector.matchLabels, redis.spec.selector.matchLabels);
        assert.deepEqual(policy.spec.ingress, [
          {
            from: [{ podSelector: { matchLabels: ours.spec.selector.matchLabels } }],
            ports: [{ port: 'redis', protocol: 'TCP' }],
          },
        ]);
      });

      if (kubectlInstalled()) {
        it('agrees with `kubectl kustomize`', () => {
          withOverlay(overlayWithRedis, overlay =>
            assert.deepEqual(byId(kustomize(overlay)), byId(kubectlKustomize(overlay) ?? [])),
          );
        });
      }
    });

    it('the ConfigMap name hashes its settings, so changing one rolls the pods out', () => {
      const configMap = findObject<KObject & { data: Labels }>(rendered, 'ConfigMap');
      assert.equal(configMap.metadata.name, `cheq-rti-authz-${configMapHash(configMapEnv)}`);
      assert.notEqual(
        configMapHash({ ...configMapEnv, CHEQ_MODE: 'blocking' }),
        configMapHash(configMapEnv),
      );
    });

    it('a broken kustomization fails the build instead of rendering something else', () => {
      const cases: [string, (base: string) => string, RegExp][] = [
        ['a missing resource', base => `resources: [${base}, nope.yaml]\n`, /nope\.yaml/],
        ['a duplicate object', base => `resources: [${base}, ${base}]\n`, /defined twice/],
        [
          'a field the renderer does not know',
          base => `resources: [${base}]\npatches: [{path: p.yaml}]\n`,
          /patches is not supported/,
        ],
        [
          'a bad literal',
          base => `resources: [${base}]\nconfigMapGenerator: [{name: x, literals: [NOEQ]}]\n`,
          /NOEQ/,
        ],
      ];
      for (const [what, kustomization, error] of cases)
        assert.throws(() => withOverlay(kustomization, kustomize), error, what);
    });

    // A cross-check declared only where kubectl is installed (it is not a requirement): the
    // in-process rendering above is the test everywhere.
    if (kubectlInstalled()) {
      it('agrees with `kubectl kustomize`', () => {
        assert.deepEqual(byId(rendered), byId(kubectlKustomize(K8S_DIR) ?? []));
        withOverlay(overlayWithServiceMonitor, overlay =>
          assert.deepEqual(byId(kustomize(overlay)), byId(kubectlKustomize(overlay) ?? [])),
        );
      });
    }
  });

  describe('Istio', () => {
    const fqdn = `${service.metadata.name}.${kustomization.namespace}.svc.cluster.local`;
    const timeoutMs = schema.timeout_ms.default;

    it('the gRPC provider points at the Service gRPC port, with a short timeout and failOpen', () => {
      assert.equal(grpcProvider.service, fqdn);
      assert.equal(grpcProvider.port, servicePort(service, 'grpc').port);
      const timeout = parseDuration(grpcProvider.timeout);
      assert.ok(
        timeout * 1000 > timeoutMs && timeout <= 1,
        `timeout ${grpcProvider.timeout}: not the 600 s default`,
      );
      assert.equal(grpcProvider.failOpen, true);
    });

    it('the HTTP provider points at the Service HTTP port and the real ext_authz prefix', () => {
      assert.equal(httpProvider.service, fqdn);
      assert.equal(httpProvider.port, servicePort(service, 'http').port);
      assert.equal(httpProvider.pathPrefix, EXT_AUTHZ_PREFIX);
      assert.ok(parseDuration(httpProvider.timeout) * 1000 > timeoutMs);
      assert.equal(httpProvider.failOpen, true);
      assert.deepEqual(httpProvider.headersToUpstreamOnAllow, [
        `${schema.verdict_header_prefix.default}*`,
      ]);
      const included = httpProvider.includeRequestHeadersInCheck;
      for (const needed of [
        'user-agent',
        'cookie',
        'accept',
        'x-forwarded-for',
        'x-envoy-external-address',
        'x-request-id',
      ])
        assert.ok(included.includes(needed), `includeRequestHeadersInCheck has ${needed}`);
      assert.ok(!included.includes('*'), 'a bare * is rejected by Istio');
      assert.ok(httpProvider.headersToDownstreamOnAllow.includes('set-cookie'));
      // The pages' own headers (CSP, framing, referrer, nosniff) reach the browser; envoy-http.yaml
      // and istiod-values.yaml are held equal to this list below.
      const pageHeaderNames = pageHeaders("default-src 'none'").map(([name]) => name);
      for (const needed of ['set-cookie', 'cache-control', 'content-type', ...pageHeaderNames])
        assert.ok(
          httpProvider.headersToDownstreamOnDeny.includes(needed),
          `headersToDownstreamOnDeny has ${needed}`,
        );
    });

    it('the AuthorizationPolicy is CUSTOM, names a registered provider and skips exact paths only', () => {
      assert.equal(policy.spec.action, 'CUSTOM');
      const names = meshConfig.extensionProviders.map(p => p.name);
      assert.ok(
        names.includes(policy.spec.provider?.name ?? ''),
        'an unknown provider denies everything',
      );
      assert.equal(policy.metadata.namespace, 'istio-system');
      assert.deepEqual(policy.spec.selector?.matchLabels, { istio: 'ingressgateway' });
      const rules = policy.spec.rules ?? [];
      assert.ok(rules.length > 0, 'a CUSTOM policy without rules checks nothing');
      const notPaths = rules.flatMap(r => r.to ?? []).flatMap(t => t.operation.notPaths ?? []);
      assert.ok(notPaths.includes('/healthz'));
      // A prefix or suffix would skip the check for /static/..;/checkout or /checkout;x.css.
      for (const p of notPaths) assert.ok(!p.includes('*'), `${p}: exact paths only`);
    });
  });

  describe('Envoy', () => {
    const timeoutSeconds = schema.timeout_ms.default / 1000;

    it('gRPC mode: ext_authz over HTTP/2 to the gRPC port, failing open, deadline above timeout_ms', () => {
      const { config } = extAuthzOf(envoyGrpc);
      assert.equal(config.transport_api_version, 'V3');
      assert.equal(config.failure_mode_allow, true);
      assert.equal(config.failure_mode_allow_header_add, true);
      const deadline = parseDuration(config.grpc_service?.timeout);
      assert.ok(
        deadline > timeoutSeconds && deadline <= 1,
        `timeout ${config.grpc_service?.timeout}`,
      );
      const cluster = clusterOf(envoyGrpc, config.grpc_service?.envoy_grpc.cluster_name ?? '');
      const endpoint = endpointOf(cluster);
      assert.equal(endpoint.address.socket_address.port_value, schema.grpc_port.default);
      assert.equal(endpoint.address.socket_address.address, service.metadata.name);
      const options =
        cluster.typed_extension_protocol_options?.[
          'envoy.extensions.upstreams.http.v3.HttpProtocolOptions'
        ];
      assert.ok(options?.explicit_http_config?.http2_protocol_options, 'gRPC needs HTTP/2');
      assert.ok(
        parseDuration(cluster.connect_timeout) < deadline,
        'connect_timeout below the deadline',
      );
      const hc = cluster.health_checks?.[0]?.grpc_health_check;
      assert.equal(hc?.service_name, AUTHORIZATION_SERVICE_NAME);
    });

    it('gRPC mode: per-route context_extensions use keys and event types the server reads', () => {
      const { name } = extAuthzOf(envoyGrpc);
      const keys: readonly string[] = Object.values(CONTEXT_EXTENSION_KEYS);
      const routes = routesOf(envoyGrpc);
      let eventTypes = 0;
      let disabled = 0;
      for (const route of routes) {
        clusterOf(envoyGrpc, route.route.cluster);
        for (const [filter, perRoute] of Object.entries(route.typed_per_filter_config ?? {})) {
          assert.equal(
            filter,
            name,
            'typed_per_filter_config is keyed by the ext_authz filter name',
          );
          if (perRoute.disabled) disabled++;
          for (const [key, value] of Object.entries(
            perRoute.check_settings?.context_extensions ?? {},
          )) {
            assert.ok(
              keys.includes(key),
              `context_extensions key ${key} is not read by the server`,
            );
            if (key === CONTEXT_EXTENSION_KEYS.eventType) {
              assert.ok(EVENT_TYPES.has(value), `${value} is not an RTI event type`);
              eventTypes++;
            }
            if (key === CONTEXT_EXTENSION_KEYS.mode)
              assert.fail(`cheq_mode ${value} by route match`);
          }
        }
      }
      // A path-matched event type or mode is stepped around with `..;` (Envoy keeps it, Tomcat
      // resolves it): the shipped config leaves them to the server's route_to_event_type.
      assert.equal(eventTypes, 0, 'no event type chosen by an Envoy route match');
      assert.ok(disabled > 0, 'a route without check (an exact path)');
      assert.equal(routes.at(-1)?.match.prefix, '/', 'a catch-all route last');
    });

    it('HTTP mode: the real ext_authz prefix and ports, keep-alive below the server, same headers as Istio', () => {
      const { config } = extAuthzOf(envoyHttp);
      const http = config.http_service;
      assert.ok(http);
      assert.equal(config.failure_mode_allow, true);
      assert.equal(http.path_prefix, EXT_AUTHZ_PREFIX);
      assert.ok(parseDuration(http.server_uri.timeout) > timeoutSeconds);
      const cluster = clusterOf(envoyHttp, http.server_uri.cluster);
      const endpoint = endpointOf(cluster);
      assert.equal(endpoint.address.socket_address.port_value, schema.http_port.default);
      assert.equal(new URL(http.server_uri.uri).port, String(schema.http_port.default));
      assert.equal(endpoint.health_check_config?.port_value, schema.metrics_port.default);
      const options =
        cluster.typed_extension_protocol_options?.[
          'envoy.extensions.upstreams.http.v3.HttpProtocolOptions'
        ];
      const idle = parseDuration(options?.common_http_protocol_options?.idle_timeout);
      assert.ok(
        idle < schema.http_keepalive_timeout_ms.default / 1000,
        'Envoy closes idle connections first',
      );
      assert.ok(parseDuration(cluster.connect_timeout) < parseDuration(http.server_uri.timeout));
      assert.deepEqual(
        config.allowed_headers?.patterns,
        includeListToMatchers(httpProvider.includeRequestHeadersInCheck),
      );
      const response = http.authorization_response;
      assert.deepEqual(response.allowed_upstream_headers.patterns, [
        { prefix: schema.verdict_header_prefix.default },
      ]);
      assert.deepEqual(
        response.allowed_client_headers.patterns,
        includeListToMatchers(httpProvider.headersToDownstreamOnDeny),
      );
      assert.deepEqual(
        response.allowed_client_headers_on_success.patterns,
        includeListToMatchers(httpProvider.headersToDownstreamOnAllow),
      );
      for (const route of routesOf(envoyHttp))
        for (const perRoute of Object.values(route.typed_per_filter_config ?? {}))
          assert.equal(
            perRoute.check_settings,
            undefined,
            'context_extensions are ignored in HTTP mode',
          );
    });

    it('both remove client-sent TLS/geo facts and verdict headers before the check (a fail-open allow keeps them)', () => {
      // The names under the server's default prefix.
      assert.equal(schema.verdict_header_prefix.default, 'x-cheq-');
      const names: Readonly<Record<string, string>> = { ...verdictHeaderNames('x-cheq-') };
      const verdictHeaders = [...Object.values(names), RTI_RESULT_HEADER];
      for (const bootstrap of [envoyGrpc, envoyHttp]) {
        const hcm = hcmOf(bootstrap);
        const mutation = hcm.http_filters[0] as HttpFilter & {
          typed_config: { mutations?: { request_mutations?: { remove?: string }[] } };
        };
        const removed = (mutation.typed_config.mutations?.request_mutations ?? []).flatMap(m =>
          m.remove === undefined ? [] : [m.remove],
        );
        for (const name of ['x-cheq-tls-cipher', 'x-cheq-tls-version', 'x-cheq-geo-region']) {
          assert.ok(removed.includes(name), name);
        }
        for (const name of verdictHeaders) assert.ok(removed.includes(name), name);
        // Removal is by exact name: `x-cheq_decision` must not get through at all.
        assert.equal(
          hcm.common_http_protocol_options?.headers_with_underscores_action,
          'DROP_HEADER',
        );
      }
    });

    it('admin on loopback only; the HCM trusts the peer address and normalizes paths', () => {
      for (const bootstrap of [envoyGrpc, envoyHttp]) {
        assert.equal(bootstrap.admin.address.socket_address.address, '127.0.0.1');
        const hcm = hcmOf(bootstrap);
        assert.equal(hcm.use_remote_address, true);
        assert.equal(hcm.normalize_path, true, 'or /static/../x would skip the check');
        assert.equal(hcm.merge_slashes, true);
      }
    });
  });

  describe('against the real server', () => {
    let rti: FakeRti;
    let server: TestService;
    before(async () => {
      rti = await FakeRti.start();
      server = await startService(rti.url);
    });
    after(async () => {
      await server?.close();
      await rti?.close();
    });

    it('the readiness probe and Envoy gRPC health check get SERVING for the services they name', async () => {
      const probeService = container.readinessProbe?.grpc?.service ?? '';
      assert.equal(await healthStatus(server.grpcAddress, probeService), 'SERVING');
      const hc = clusterOf(envoyGrpc, 'cheq_authz').health_checks?.[0]?.grpc_health_check;
      assert.equal(await healthStatus(server.grpcAddress, hc?.service_name ?? ''), 'SERVING');
    });

    it('the liveness, Envoy HTTP health check and ServiceMonitor paths answer 200 on the metrics port', async () => {
      const monitor = findObject<ServiceMonitor>(k8s, 'ServiceMonitor');
      const paths = [
        container.livenessProbe?.httpGet?.path,
        clusterOf(envoyHttp, 'cheq_authz_http').health_checks?.[0]?.http_health_check?.path,
        monitor.spec.endpoints[0]?.path,
      ];
      for (const path of paths) {
        assert.ok(path);
        const res = await fetch(`${server.metricsUrl}${path}`);
        assert.equal(res.status, 200, path);
        await res.arrayBuffer();
      }
      const notFound = await fetch(`${server.metricsUrl}/healthzz`);
      assert.equal(notFound.status, 404, 'the server does not answer any path');
      await notFound.arrayBuffer();
    });

    it('the Istio/Envoy HTTP path prefix reaches the Envoy HTTP endpoint', async () => {
      for (const prefix of [
        httpProvider.pathPrefix,
        extAuthzOf(envoyHttp).config.http_service?.path_prefix,
      ]) {
        const res = await fetch(`${server.httpUrl}${prefix}/checkout?x=1`, {
          headers: {
            'user-agent': 'Mozilla/5.0',
            'x-forwarded-proto': 'https',
            'x-request-id': 'r1',
          },
        });
        assert.equal(res.status, 200, `${prefix}: allowed`);
        assert.equal(res.headers.get(`${schema.verdict_header_prefix.default}decision`), 'valid');
        await res.arrayBuffer();
      }
      const wrong = await fetch(`${server.httpUrl}/api/authz/ext_authz/checkout`);
      assert.equal(wrong.status, 404, 'a wrong prefix is not answered 200');
      await wrong.arrayBuffer();
    });
  });
});
