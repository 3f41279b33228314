/**
 * Stable error codes. CLIs map them to exit codes (sysexits.h values), and
 * tests match on the code, never on the wording.
 */
export type ErrorCode =
  | 'E_USAGE' // bad command line
  | 'E_CONFIG' // the config file has errors
  | 'E_IO' // a file we need cannot be read or written
  | 'E_CAPTURE' // the capture device cannot be opened
  | 'E_RESOLVE' // a host name does not resolve
  | 'E_FIREWALL' // the firewall backend is missing or refused a change
  | 'E_SPA' // SPA cannot start: its socket cannot be bound, or its verifier cannot be loaded
  | 'E_STATE'; // the state directory or journal is not safe to trust (owner, mode, type)

export const EXIT_CODES: Record<ErrorCode, number> = {
  E_USAGE: 64,
  E_CONFIG: 78,
  E_IO: 74,
  E_CAPTURE: 69,
  E_RESOLVE: 68,
  E_FIREWALL: 69,
  E_SPA: 69,
  E_STATE: 77, // EX_NOPERM
};

export class KnockError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'KnockError';
    this.code = code;
  }
}

/** One problem found in a config file; `line` is 1-based. */
export interface ConfigProblem {
  file: string;
  line: number;
  message: string;
}

export function formatProblem(p: ConfigProblem): string {
  return `${p.file}:${p.line}: ${p.message}`;
}
