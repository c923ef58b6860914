/**
 * Error helpers shared by the program, the model code and the client: one wording for a bad
 * option, and one way to read the message of anything thrown.
 */

/** The message of anything thrown: an Error's message, or the thrown value as text. */
export function errorMessage(err: unknown): string {
    return err instanceof Error ? err.message : String(err);
}

/** Throws "`field` is value; expected …" unless `ok`. */
export function checkOption(field: string, value: unknown, ok: boolean, expected: string): void {
    if (!ok) {
        throw new Error(`\`${field}\` is ${String(value)}; expected ${expected}`);
    }
}
