// A small, strict `kustomize build` for the tests, so the manifest checks need no kubectl.
//
// It renders exactly the kustomization features deploy/kubernetes uses (resources, components,
// namespace, labels, images, configMapGenerator with the name hash and the references to it, a
// component's strategic merge patches of the lists deploy/kubernetes patches) the way kustomize v5 does, and REJECTS every other field: a kustomization that grows a feature this
// renderer does not know fails the tests instead of being rendered wrongly. When kubectl is
// installed, the manifest tests also compare this output with `kubectl kustomize`.

import { createHash } from 'node:crypto';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { basename, isAbsolute, join } from 'node:path';
import { parseAllDocuments } from 'yaml';

type Json = Record<string, unknown>;
export interface RenderedObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> } & Json;
  [key: string]: unknown;
}

const KUSTOMIZATION_FILES = ['kustomization.yaml', 'kustomization.yml', 'Kustomization'];
const KNOWN_FIELDS = new Set([
  'apiVersion',
  'kind',
  'resources',
  'components',
  'namespace',
  'labels',
  'images',
  'configMapGenerator',
]);
/** Kinds the namespace transformer leaves alone (cluster-scoped). */
const CLUSTER_SCOPED = new Set([
  'Namespace',
  'ClusterRole',
  'ClusterRoleBinding',
  'CustomResourceDefinition',
  'PersistentVolume',
  'StorageClass',
  'PriorityClass',
  'ValidatingWebhookConfiguration',
  'MutatingWebhookConfiguration',
  'APIService',
  'IngressClass',
  'RuntimeClass',
]);
/** Kinds whose spec.template is a pod template (kustomize's `labels` includeTemplates). */
const POD_TEMPLATE_KINDS = new Set([
  'Deployment',
  'ReplicaSet',
  'DaemonSet',
  'StatefulSet',
  'Job',
  'ReplicationController',
]);

function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function fail(dir: string, message: string): never {
  throw new Error(`kustomize ${dir}: ${message}`);
}

function readYamlDocs(file: string): unknown[] {
  return parseAllDocuments(readFileSync(file, 'utf8')).map(doc => {
    const problems = [...doc.errors, ...doc.warnings];
    if (problems.length > 0) throw new Error(`${file}: ${problems.map(p => p.message).join('; ')}`);
    return doc.toJS() as unknown;
  });
}

function kustomizationFile(dir: string): string | undefined {
  return KUSTOMIZATION_FILES.map(f => join(dir, f)).find(f => existsSync(f));
}

function stringList(dir: string, value: unknown, field: string): string[] {
  if (value === undefined) return [];
  if (!Array.isArray(value) || !value.every(v => typeof v === 'string'))
    fail(dir, `${field} must be a list of strings`);
  return value;
}

function relativePath(dir: string, path: string, field: string): string {
  if (isAbsolute(path)) fail(dir, `${field}: absolute path ${path} (kustomize refuses them)`);
  return join(dir, path);
}

/** Objects of a resource entry: a YAML file, or a directory holding a kustomization. */
function loadResource(dir: string, entry: string): RenderedObject[] {
  const path = relativePath(dir, entry, 'resources');
  if (!existsSync(path)) fail(dir, `resource ${entry} does not exist`);
  if (statSync(path).isDirectory()) return render(path, 'Kustomization');
  return readYamlDocs(path)
    .filter(doc => doc !== null && doc !== undefined)
    .map(doc => {
      if (
        !isObject(doc) ||
        typeof doc['apiVersion'] !== 'string' ||
        typeof doc['kind'] !== 'string'
      )
        fail(dir, `${entry}: a document without apiVersion/kind`);
      const meta = doc['metadata'];
      if (!isObject(meta) || typeof meta['name'] !== 'string' || meta['name'] === '')
        fail(dir, `${entry}: a ${doc['kind']} without metadata.name`);
      return doc as RenderedObject;
    });
}

function addLabels(target: Json, key: string, labels: Record<string, string>): void {
  const current = target[key];
  target[key] = { ...(isObject(current) ? current : {}), ...labels };
}

function applyLabels(dir: string, objects: RenderedObject[], entries: unknown): void {
  if (!Array.isArray(entries)) fail(dir, 'labels must be a list');
  for (const entry of entries) {
    if (!isObject(entry) || !isObject(entry['pairs'])) fail(dir, 'labels entry without pairs');
    for (const key of Object.keys(entry))
      if (!['pairs', 'includeSelectors', 'includeTemplates'].includes(key))
        fail(dir, `labels.${key} is not supported by this renderer`);
    if (entry['includeSelectors'] === true)
      fail(dir, 'labels.includeSelectors: true is not supported by this renderer');
    const pairs = entry['pairs'] as Record<string, string>;
    for (const o of objects) {
      addLabels(o.metadata, 'labels', pairs);
      if (entry['includeTemplates'] === true && POD_TEMPLATE_KINDS.has(o.kind)) {
        const template = (o['spec'] as Json | undefined)?.['template'];
        if (isObject(template)) {
          if (!isObject(template['metadata'])) template['metadata'] = {};
          addLabels(template['metadata'] as Json, 'labels', pairs);
        }
      }
    }
  }
}

/** Calls `visit` on every container and init container anywhere in `node`. */
function forEachContainer(node: unknown, visit: (container: Json) => void): void {
  if (Array.isArray(node)) {
    for (const item of node) forEachContainer(item, visit);
    return;
  }
  if (!isObject(node)) return;
  for (const [key, value] of Object.entries(node)) {
    if ((key === 'containers' || key === 'initContainers') && Array.isArray(value))
      for (const c of value) if (isObject(c)) visit(c);
    forEachContainer(value, visit);
  }
}

/** `registry:5000/name:tag@sha256:...` split into name and the rest. */
function imageName(image: string): string {
  const noDigest = image.split('@')[0] ?? image;
  const colon = noDigest.lastIndexOf(':');
  return colon > noDigest.lastIndexOf('/') ? noDigest.slice(0, colon) : noDigest;
}

function applyImages(dir: string, objects: RenderedObject[], images: unknown): void {
  if (!Array.isArray(images)) fail(dir, 'images must be a list');
  for (const image of images) {
    if (!isObject(image) || typeof image['name'] !== 'string')
      fail(dir, 'images entry without name');
    for (const key of Object.keys(image))
      if (!['name', 'newName', 'newTag', 'digest'].includes(key))
        fail(dir, `images.${key} is not supported by this renderer`);
    const name = image['name'];
    for (const o of objects)
      forEachContainer(o, container => {
        const current = container['image'];
        if (typeof current !== 'string' || imageName(current) !== name) return;
        const newName = typeof image['newName'] === 'string' ? image['newName'] : name;
        const rest = current.slice(imageName(current).length);
        const oldTag = rest.startsWith(':') ? (rest.slice(1).split('@')[0] ?? '') : '';
        const oldDigest = current.includes('@') ? current.slice(current.indexOf('@') + 1) : '';
        if (typeof image['digest'] === 'string')
          container['image'] = `${newName}@${image['digest']}`;
        else if (typeof image['newTag'] === 'string' || typeof image['newTag'] === 'number')
          container['image'] = `${newName}:${image['newTag']}`;
        else
          container['image'] =
            newName + (oldTag ? `:${oldTag}` : '') + (oldDigest ? `@${oldDigest}` : '');
      });
  }
}

/** Go's json.Marshal of a map: sorted keys, and <, >, & escaped. */
function goJson(value: Json): string {
  const sorted = (v: unknown): unknown =>
    isObject(v)
      ? Object.fromEntries(
          Object.keys(v)
            .sort()
            .map(k => [k, sorted(v[k])]),
        )
      : v;
  return JSON.stringify(sorted(value))
    .replace(/</g, '\\u003c')
    .replace(/>/g, '\\u003e')
    .replace(/&/g, '\\u0026')
    .replace(/\u2028/g, '\\u2028')
    .replace(/\u2029/g, '\\u2029');
}

/**
 * kustomize's ConfigMap name suffix (api/hasher): sha256 of {kind, name, data}, 10 hex chars,
 * some remapped. kustomize v5 hashes the generated object before naming it, so name is "".
 */
export function configMapHash(data: Record<string, string>): string {
  const hex = createHash('sha256')
    .update(goJson({ kind: 'ConfigMap', name: '', data }))
    .digest('hex');
  const remap: Record<string, string> = { '0': 'g', '1': 'h', '3': 'k', a: 'm', e: 't' };
  return [...hex.slice(0, 10)].map(c => remap[c] ?? c).join('');
}

/** A `KEY=VALUE` literal as kustomize reads it (surrounding quotes removed). */
function parseLiteral(dir: string, literal: string): [string, string] {
  const eq = literal.indexOf('=');
  if (eq <= 0) fail(dir, `configMapGenerator literal without KEY=: ${literal}`);
  let value = literal.slice(eq + 1);
  if (value.length > 1 && (value[0] === '"' || value[0] === "'") && value.at(-1) === value[0])
    value = value.slice(1, -1);
  return [literal.slice(0, eq), value];
}

function generateConfigMaps(
  dir: string,
  generators: unknown,
): { objects: RenderedObject[]; renames: Map<string, string> } {
  if (!Array.isArray(generators)) fail(dir, 'configMapGenerator must be a list');
  const objects: RenderedObject[] = [];
  const renames = new Map<string, string>();
  for (const g of generators) {
    if (!isObject(g) || typeof g['name'] !== 'string') fail(dir, 'configMapGenerator without name');
    for (const key of Object.keys(g))
      if (!['name', 'literals', 'files', 'options'].includes(key))
        fail(dir, `configMapGenerator.${key} is not supported by this renderer`);
    const data: Record<string, string> = {};
    const put = (key: string, value: string): void => {
      if (key in data) fail(dir, `configMapGenerator ${String(g['name'])}: duplicate key ${key}`);
      data[key] = value;
    };
    for (const literal of stringList(dir, g['literals'], 'literals'))
      put(...parseLiteral(dir, literal));
    for (const file of stringList(dir, g['files'], 'files')) {
      const eq = file.indexOf('=');
      const [key, path] = eq > 0 ? [file.slice(0, eq), file.slice(eq + 1)] : [basename(file), file];
      put(key, readFileSync(relativePath(dir, path, 'files'), 'utf8'));
    }
    const options = g['options'] ?? {};
    if (!isObject(options)) fail(dir, 'configMapGenerator.options must be a map');
    for (const key of Object.keys(options))
      if (!['labels', 'annotations', 'disableNameSuffixHash'].includes(key))
        fail(dir, `configMapGenerator.options.${key} is not supported by this renderer`);
    const name = g['name'];
    const finalName =
      options['disableNameSuffixHash'] === true ? name : `${name}-${configMapHash(data)}`;
    renames.set(name, finalName);
    const metadata: RenderedObject['metadata'] = { name: finalName };
    if (isObject(options['annotations'])) metadata['annotations'] = { ...options['annotations'] };
    if (isObject(options['labels']))
      metadata.labels = { ...(options['labels'] as Record<string, string>) };
    objects.push({ apiVersion: 'v1', kind: 'ConfigMap', metadata, data });
  }
  return { objects, renames };
}

/** Rewrites references to generated ConfigMaps (envFrom, env, volumes) to their hashed names. */
function renameConfigMapRefs(node: unknown, renames: ReadonlyMap<string, string>): void {
  if (Array.isArray(node)) {
    for (const item of node) renameConfigMapRefs(item, renames);
    return;
  }
  if (!isObject(node)) return;
  for (const [key, value] of Object.entries(node)) {
    if (['configMapRef', 'configMapKeyRef', 'configMap'].includes(key) && isObject(value)) {
      const name = value['name'];
      const renamed = typeof name === 'string' ? renames.get(name) : undefined;
      if (renamed) value['name'] = renamed;
    }
    renameConfigMapRefs(value, renames);
  }
}

function objectId(o: RenderedObject): string {
  return `${o.apiVersion} ${o.kind} ${o.metadata.namespace ?? ''}/${o.metadata.name}`;
}

/** Renders one kustomization directory, as `kustomize build DIR` would. */
function readKustomization(dir: string, expectedKind: 'Kustomization' | 'Component'): Json {
  const file = kustomizationFile(dir);
  if (!file) fail(dir, 'no kustomization.yaml');
  const docs = readYamlDocs(file);
  if (docs.length !== 1 || !isObject(docs[0])) fail(dir, 'expected one kustomization document');
  const k = docs[0];
  const kind = k['kind'] ?? 'Kustomization';
  if (kind !== expectedKind)
    fail(dir, `a ${JSON.stringify(kind)} where a ${expectedKind} is expected`);
  return k;
}

function render(dir: string, expectedKind: 'Kustomization'): RenderedObject[] {
  const k = readKustomization(dir, expectedKind);
  for (const key of Object.keys(k))
    if (!KNOWN_FIELDS.has(key)) fail(dir, `${key} is not supported by this renderer`);

  const objects = stringList(dir, k['resources'], 'resources').flatMap(r => loadResource(dir, r));
  for (const component of stringList(dir, k['components'], 'components'))
    applyComponent(relativePath(dir, component, 'components'), objects);

  let renames = new Map<string, string>();
  if (k['configMapGenerator'] !== undefined) {
    const generated = generateConfigMaps(dir, k['configMapGenerator']);
    objects.push(...generated.objects);
    renames = generated.renames;
  }
  if (typeof k['namespace'] === 'string')
    for (const o of objects) if (!CLUSTER_SCOPED.has(o.kind)) o.metadata.namespace = k['namespace'];
  if (k['labels'] !== undefined) applyLabels(dir, objects, k['labels']);
  if (k['images'] !== undefined) applyImages(dir, objects, k['images']);
  for (const o of objects) if (o.kind !== 'ConfigMap') renameConfigMapRefs(o, renames);

  const seen = new Set<string>();
  for (const o of objects) {
    const id = objectId(o);
    if (seen.has(id)) fail(dir, `${id} is defined twice`);
    seen.add(id);
  }
  return objects;
}

/**
 * A component adds its resources to the including kustomization's objects, then patches them
 * all (before the includer's own transformers). Its other transformers are not supported here.
 */
function applyComponent(dir: string, objects: RenderedObject[]): void {
  const k = readKustomization(dir, 'Component');
  for (const key of Object.keys(k))
    if (!['apiVersion', 'kind', 'resources', 'components', 'patches'].includes(key))
      fail(dir, `${key} in a Component is not supported by this renderer`);
  objects.push(...stringList(dir, k['resources'], 'resources').flatMap(r => loadResource(dir, r)));
  for (const component of stringList(dir, k['components'], 'components'))
    applyComponent(relativePath(dir, component, 'components'), objects);
  const patches = k['patches'] ?? [];
  if (!Array.isArray(patches)) fail(dir, 'patches must be a list');
  for (const entry of patches) {
    if (
      !isObject(entry) ||
      Object.keys(entry).join() !== 'path' ||
      typeof entry['path'] !== 'string'
    )
      fail(dir, 'patches: only { path: <file> } entries are supported by this renderer');
    for (const patch of readYamlDocs(relativePath(dir, entry['path'], 'patches'))) {
      if (!isObject(patch) || !isObject(patch['metadata'])) fail(dir, 'a patch without metadata');
      const { kind, metadata } = patch as RenderedObject;
      const target = objects.find(
        o =>
          o.kind === kind &&
          o.metadata.name === metadata.name &&
          (metadata.namespace === undefined || o.metadata.namespace === metadata.namespace),
      );
      if (!target) fail(dir, `patch ${entry['path']}: no ${kind} ${metadata.name} to patch`);
      mergePatch(dir, target, patch);
    }
  }
}

/** The lists a strategic merge patch merges by a key (Kubernetes' patchMergeKey); others are replaced. */
const MERGE_KEYS: Readonly<Record<string, string>> = {
  containers: 'name',
  initContainers: 'name',
  env: 'name',
  volumeMounts: 'mountPath',
  volumes: 'name',
};

function mergePatch(dir: string, target: Json, patch: Json): void {
  for (const [key, value] of Object.entries(patch)) {
    if (key.startsWith('$') || value === null)
      fail(dir, `patch directive or deletion (${key}) is not supported by this renderer`);
    const current = target[key];
    const mergeKey = MERGE_KEYS[key];
    if (mergeKey !== undefined && Array.isArray(current) && Array.isArray(value))
      target[key] = mergeList(dir, current, value, mergeKey);
    else if (isObject(current) && isObject(value)) mergePatch(dir, current, value);
    else target[key] = structuredClone(value);
  }
}

/** Items merged by key; new ones go first, as kustomize (kyaml) puts them. */
function mergeList(dir: string, current: unknown[], patch: unknown[], key: string): unknown[] {
  const added: unknown[] = [];
  for (const item of patch) {
    if (!isObject(item) || typeof item[key] !== 'string') fail(dir, `a list item without ${key}`);
    const existing = current.find(c => isObject(c) && c[key] === item[key]);
    if (isObject(existing)) mergePatch(dir, existing, item);
    else added.push(structuredClone(item));
  }
  return [...added, ...current];
}

/** `kustomize build DIR` (a Kustomization directory) as plain objects. */
export function kustomizeBuild(dir: string): RenderedObject[] {
  return structuredClone(render(dir, 'Kustomization'));
}
