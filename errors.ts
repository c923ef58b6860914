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

/**
 * Parses one of `choices` from config, a flag or the environment; `auto` and empty mean "let the
 * program choose" (undefined). Anything else is an error naming `field`.
 */
export function parseChoice<T extends string>(
    value: string | undefined,
    field: string,
    choices: readonly T[],
): T | undefined {
    if (value === undefined || value === "" || value === "auto") {
        return undefined;
    }
    if ((choices as readonly string[]).includes(value)) {
        return value as T;
    }
    throw new Error(`\`${field}\` is "${value}"; expected one of auto, ${choices.join(", ")}`);
}
