/**
 * The one error type of Accord. Domain code throws it with a stable code from its half's table
 * (tenant/tenant-errors.ts, app/app-errors.ts), built by `errorsOf`; each half's HTTP edge
 * answers with the status the table gives the code (the tenant in Auth0's error body).
 */
export interface ErrorDefinition {
  status: number;
  /** What the code means, said to whoever made the request; a throw may word it more precisely. */
  message: string;
}

export class AccordError<C extends string = string> extends Error {
  readonly code: C;
  /** The HTTP status the code answers with, from its half's table. */
  readonly status: number;
  readonly details: Record<string, unknown> | undefined;

  constructor(code: C, status: number, message: string, details?: Record<string, unknown>) {
    super(message);
    this.name = 'AccordError';
    this.code = code;
    this.status = status;
    this.details = details;
  }
}

/** The functions a half throws and recognises its errors with, typed by its own codes. */
export interface ErrorTable<C extends string> {
  readonly definitions: Readonly<Record<C, ErrorDefinition>>;
  /** The error for `code`, with the table's message unless a more precise one is given. */
  error(code: C, message?: string, details?: Record<string, unknown>): AccordError<C>;
  /** Whether `err` is an AccordError of this table (and of `code`, when named). */
  is(err: unknown, code?: C): err is AccordError<C>;
}

export function errorsOf<const T extends Record<string, ErrorDefinition>>(definitions: T): ErrorTable<Extract<keyof T, string>> {
  type C = Extract<keyof T, string>;
  return {
    definitions,
    error(code: C, message?: string, details?: Record<string, unknown>) {
      const definition = definitions[code] as ErrorDefinition;
      return new AccordError(code, definition.status, message ?? definition.message, details);
    },
    is(err: unknown, code?: C): err is AccordError<C> {
      return err instanceof AccordError && Object.hasOwn(definitions, err.code) && (code === undefined || err.code === code);
    },
  };
}

/**
 * The codes platform code throws, and the generic ones of any HTTP edge. Each half's table
 * starts with these, so one thrown here is also that half's.
 */
export const PLATFORM_ERRORS = {
  invalid_body: { status: 400, message: 'The request body is not valid.' },
  invalid_query_string: { status: 400, message: 'The query string is not valid.' },
  invalid_json: { status: 400, message: 'The request body is not valid JSON.' },
  payload_too_large: { status: 413, message: 'The request body is too large.' },
  json_too_deep: { status: 400, message: 'The request body nests arrays and objects too deeply.' },
  csrf_invalid: { status: 403, message: 'This form has expired or did not come from this page. Go back and try again.' },
  too_many_requests: { status: 429, message: 'Too many requests. Try again later.' },
  conflict: { status: 409, message: 'The change collided with a concurrent change to the same users; nothing was changed. Retry.' },
  not_found: { status: 404, message: 'Not Found' },
  internal_error: { status: 500, message: 'Internal error.' },
  temporarily_unavailable: { status: 503, message: 'The service is temporarily unavailable. Try again in a minute.' },
} as const satisfies Record<string, ErrorDefinition>;

export const platformErrors = errorsOf(PLATFORM_ERRORS);
