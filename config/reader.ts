/**
 * Reading the `tfk8s` config keys: raw strings as Pulumi passes them, typed by the reader, and
 * every error naming the key, the value and what was expected.
 */
import * as pulumi from "@pulumi/pulumi";
import { CONFIG_KEYS, ConfigKey } from "../configKeys";
import { SettingError } from "../programErrors";

/** The config namespace of every key. */
export const NAMESPACE = "tfk8s";

/**
 * Whether the engine passed a key as a secret. The SDK keeps this helper out of its typings
 * (it is marked internal), yet it is the only way to tell a `--secret` value from a plain one;
 * the config tests fail if it ever moves.
 */
const { isConfigSecret } = require("@pulumi/pulumi/runtime/config") as {
    isConfigSecret(key: string): boolean;
};

/** Throws the SettingError of config key `key`. */
export function fail(key: ConfigKey, value: unknown, expected: string): never {
    throw new SettingError(`${NAMESPACE}:${key}`, value, expected, { keyKind: "config" });
}

/**
 * The config keys of the components' fields whose names differ from the key's; a component field
 * `resources.<size>` is config key `<size>`, and any other field the key of its name.
 */
const KEY_OF_FIELD: Readonly<Record<string, ConfigKey>> = {
    "autoscaling.maxReplicas": "autoscaleMaxReplicas",
    "canary.weight": "canaryWeight",
    "canary.modelVersion": "canaryVersion",
    repository: "imageRepository",
};

/**
 * Runs a component's check on values read from config: a SettingError it throws names the
 * config key of the field instead of the field.
 */
export function checkedAsConfig<T>(check: () => T): T {
    try {
        return check();
    } catch (err) {
        if (!(err instanceof SettingError)) throw err;
        const key = KEY_OF_FIELD[err.key] ?? err.key.replace(/^resources\./, "");
        if (!(key in CONFIG_KEYS)) throw err;
        return fail(key as ConfigKey, err.value, err.expected);
    }
}

/**
 * Reads raw strings; Pulumi passes every config value to the program as a string. Inside the
 * program they come from the engine; `values` (`tfk8s:<key>` to value, as the Automation API's
 * `getAllConfig` gives them) lets a command outside it, such as `npm run rollout`, read a stack's
 * config with the same checks.
 */
export class Reader {
    private readonly config = new pulumi.Config(NAMESPACE);

    constructor(private readonly values?: Readonly<Record<string, string>>) {}

    raw(key: ConfigKey): string | undefined {
        const value =
            this.values === undefined ? this.config.get(key) : this.values[`${NAMESPACE}:${key}`];
        return value === undefined || value === "" ? undefined : value;
    }

    string(key: ConfigKey): string | undefined {
        const value = this.raw(key) ?? String(CONFIG_KEYS[key].default);
        return value === "" ? undefined : value;
    }

    integer(key: ConfigKey, min: number, max = Number.MAX_SAFE_INTEGER): number | undefined {
        const text = this.string(key);
        if (text === undefined) return undefined;
        const n = Number(text);
        if (!/^-?\d+$/.test(text.trim()) || n < min || n > max) {
            fail(
                key,
                text,
                max === Number.MAX_SAFE_INTEGER
                    ? `an integer >= ${min}`
                    : `an integer in ${min}-${max}`,
            );
        }
        return n;
    }

    decimal(key: ConfigKey, ok: (n: number) => boolean, expected: string): number {
        const text = this.string(key) as string;
        const n = Number(text);
        if (text.trim() === "" || !Number.isFinite(n) || !ok(n)) fail(key, text, expected);
        return n;
    }

    boolean(key: ConfigKey): boolean {
        const text = this.string(key);
        if (text !== "true" && text !== "false") fail(key, text, "true or false");
        return text === "true";
    }

    oneOf<T extends string>(key: ConfigKey, allowed: readonly T[]): T {
        const text = this.string(key) as string;
        if (!(allowed as readonly string[]).includes(text))
            fail(key, text, `one of ${allowed.join(", ")}`);
        return text as T;
    }

    matching(key: ConfigKey, pattern: RegExp, expected: string): string | undefined {
        const text = this.string(key);
        if (text !== undefined && !pattern.test(text)) fail(key, text, expected);
        return text;
    }

    secret(key: ConfigKey): pulumi.Output<string> | undefined {
        if (this.raw(key) === undefined) return undefined;
        // A plain-text password would sit unencrypted in Pulumi.<stack>.yaml and in git.
        if (!isConfigSecret(`${NAMESPACE}:${key}`)) {
            // Not a SettingError: that would print the value.
            throw new Error(
                `config \`${NAMESPACE}:${key}\` is stored in plain text; expected a secret (pulumi config set --secret ${key} …)`,
            );
        }
        return this.config.requireSecret(key);
    }
}
