import * as k8s from '@kubernetes/client-node';

/**
 * Checks Kubernetes objects against the published schemas, as strictly as an API server with
 * `fieldValidation=Strict`: types, enums and required fields through kubernetes-models (generated
 * from the OpenAPI spec), and unknown fields through the field lists of client-node's generated
 * models, because kubernetes-models' validators let unknown fields pass.
 */
export async function schemaErrors(object: unknown): Promise<string[]> {
  const { apiVersion, kind } = (object ?? {}) as { apiVersion?: string; kind?: string };
  if (!apiVersion || !kind) return ['apiVersion and kind are required'];
  const errors: string[] = [];
  const path = apiVersion.includes('/') ? `kubernetes-models/${apiVersion}/${kind}` : `kubernetes-models/v1/${kind}`;
  let Model: new (data: unknown) => { validate(): void };
  try {
    Model = ((await import(path)) as Record<string, never>)[kind]!;
  } catch {
    return [`no schema for ${apiVersion} ${kind}`];
  }
  try {
    new Model(object).validate();
  } catch (error) {
    errors.push(...(error as Error).message.split('\n').map((line) => `${kind}: ${line}`));
  }
  const version = apiVersion.split('/').at(-1)!;
  const typeName = `${version[0]!.toUpperCase()}${version.slice(1)}${kind}`;
  unknownFields(object, typeName, kind, errors);
  return errors;
}

type AttributeMap = { name: string; baseName: string; type: string }[];
const models = k8s as unknown as Record<string, { getAttributeTypeMap?: () => AttributeMap } | undefined>;

function unknownFields(value: unknown, type: string, path: string, errors: string[]): void {
  if (value === null || value === undefined) return;
  const array = /^Array<(.+)>$/.exec(type);
  if (array) {
    if (Array.isArray(value)) value.forEach((item, i) => unknownFields(item, array[1]!, `${path}[${i}]`, errors));
    return;
  }
  const map = /^\{ \[key: string\]: (.+); \}$/.exec(type);
  if (map) {
    for (const [key, item] of Object.entries(value as object)) unknownFields(item, map[1]!, `${path}.${key}`, errors);
    return;
  }
  const attributes = models[type]?.getAttributeTypeMap?.();
  if (!attributes || typeof value !== 'object') return; // a scalar, or IntOrString and the like
  const known = new Map(attributes.map((a) => [a.baseName, a.type]));
  for (const [key, item] of Object.entries(value as object)) {
    const fieldType = known.get(key);
    if (fieldType === undefined) errors.push(`${path}: unknown field "${key}"`);
    else unknownFields(item, fieldType, `${path}.${key}`, errors);
  }
}
