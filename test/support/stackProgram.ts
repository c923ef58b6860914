/**
 * Runs the stack program (index.ts) under the Pulumi mocks of `test/mocks.ts`, with a stack file's
 * config, and resolves its outputs: what the stack suites assert on.
 */
import * as fs from "fs";
import * as path from "path";
import * as YAML from "yaml";
import { promiseOf, resetRecorded, setStackConfig } from "../mocks";

const ROOT = path.join(__dirname, "..", "..");

/** A stack file's config, without the `tfk8s:` prefix. */
export function stackFile(stack: string): Record<string, string> {
    const config = YAML.parse(
        fs.readFileSync(path.join(ROOT, `Pulumi.${stack}.yaml`), "utf8"),
    ).config;
    return Object.fromEntries(
        Object.entries(config).map(([k, v]) => [k.replace(/^tfk8s:/, ""), String(v)]),
    );
}

type Program = () => Promise<Record<string, any>>;

/** Runs index.ts under the mocks from the working directory; returns its stack outputs. */
export async function runProgram(
    config: Record<string, string>,
    secretKeys: string[] = [],
): Promise<Record<string, any>> {
    resetRecorded();
    setStackConfig(config, secretKeys);
    const program: Program = require("../../index");
    const outputs = await program();
    const resolved: Record<string, any> = {};
    for (const [k, v] of Object.entries(outputs)) {
        resolved[k] = v !== null && typeof v === "object" && "apply" in v ? await promiseOf(v) : v;
    }
    await new Promise((r) => setImmediate(r));
    return resolved;
}
