import { readFileSync } from 'node:fs';
import { Ajv, type ValidateFunction } from 'ajv';
import { parse } from 'yaml';

interface Operation {
  summary?: string;
  parameters?: { in: string; name: string; schema?: { $ref?: string } }[];
}
interface SwaggerDoc {
  paths: Record<string, Record<string, Operation>>;
  definitions: Record<string, Record<string, unknown>>;
}

export interface Route {
  readonly method: string;
  readonly template: string;
  readonly params: Record<string, string>;
  /** The operation's summary says "Pre-boot only." */
  readonly preBootOnly: boolean;
  /** Validates the JSON body; null when the operation takes none. */
  readonly validate: ValidateFunction | null;
}

/**
 * Firecracker's own API description, loaded to check requests with. Firecracker's request types
 * refuse unknown fields (serde's deny_unknown_fields), which Swagger 2.0 cannot say; so every
 * object definition with properties is closed here.
 */
export class FirecrackerSpec {
  private readonly doc: SwaggerDoc;
  private readonly validators = new Map<string, ValidateFunction>();
  private readonly ajv = new Ajv({ strict: false, allErrors: true, validateFormats: false });

  constructor(path = new URL('../../../test/firecracker/firecracker-api.yaml', import.meta.url)) {
    this.doc = parse(readFileSync(path, 'utf8')) as SwaggerDoc;
    const definitions = structuredClone(this.doc.definitions);
    for (const definition of Object.values(definitions)) {
      if (definition.type === 'object' && definition.properties) definition.additionalProperties = false;
    }
    this.ajv.addSchema({ $id: 'firecracker', definitions });
  }

  route(method: string, path: string): Route | null {
    for (const [template, operations] of Object.entries(this.doc.paths)) {
      const names: string[] = [];
      const pattern = new RegExp(`^${template.replace(/\{([^}]+)\}/g, (_, name: string) => (names.push(name), '([^/]+)'))}$`);
      const match = pattern.exec(path);
      const operation = operations[method.toLowerCase()];
      if (!match || !operation) continue;
      const body = operation.parameters?.find((p) => p.in === 'body')?.schema?.$ref;
      return {
        method,
        template,
        params: Object.fromEntries(names.map((name, i) => [name, decodeURIComponent(match[i + 1]!)])),
        preBootOnly: /Pre-boot only/i.test(operation.summary ?? ''),
        validate: body ? this.validator(body) : null,
      };
    }
    return null;
  }

  private validator(ref: string): ValidateFunction {
    let validate = this.validators.get(ref);
    if (!validate) {
      validate = this.ajv.compile({ $ref: `firecracker${ref}` });
      this.validators.set(ref, validate);
    }
    return validate;
  }
}
