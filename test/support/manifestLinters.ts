/**
 * kube-score and checkov, two widely used third-party manifest checkers, run on a directory of
 * rendered manifests (scripts/install-manifest-linters.sh pins and installs them), and the
 * docs/policies.md's table of findings that do not apply, which every remaining finding must appear in.
 */
import * as fs from "fs";
import * as path from "path";
import { filesUnder, run } from "./realStack";

/** One thing a checker flagged. */
export interface Finding {
    readonly checker: "kube-score" | "checkov";
    /** The checker's rule id: `container-image-pull-policy`, `CKV_K8S_15`. */
    readonly rule: string;
    /** Kind and name of the flagged object. */
    readonly object: string;
    readonly message: string;
}

/** kube-score's grades: 10 is a pass; 1 critical and 5 warning are findings. */
const KUBE_SCORE_PASS = 10;

interface KubeScoreObject {
    object_name: string;
    checks: Array<{
        check: { id: string; name: string };
        grade: number;
        skipped: boolean;
        comments: Array<{ summary: string }> | null;
    }>;
}

function kubeScore(binary: string, dir: string): Finding[] {
    const files = filesUnder(dir).filter((f) => f.endsWith(".yaml"));
    if (files.length === 0) throw new Error(`no manifests under ${dir}`);
    // Exit status 1 means "findings", which the JSON lists; anything else is a failure to run.
    const r = run(binary, ["score", "--output-format", "json", ...files]);
    if (r.status !== 0 && r.status !== 1) {
        throw new Error(`kube-score failed (exit ${r.status}): ${r.stderr}`);
    }
    const objects: KubeScoreObject[] = JSON.parse(r.stdout);
    return objects.flatMap((o) =>
        o.checks
            .filter((c) => !c.skipped && c.grade < KUBE_SCORE_PASS)
            .map((c) => ({
                checker: "kube-score" as const,
                rule: c.check.id,
                object: o.object_name,
                message: (c.comments ?? []).map((x) => x.summary).join("; ") || c.check.name,
            })),
    );
}

interface CheckovReport {
    summary: { resource_count: number; parsing_errors: number };
    results: { failed_checks: Array<{ check_id: string; resource: string; check_name: string }> };
}

function checkov(binary: string, dir: string): Finding[] {
    // --skip-download: checkov would otherwise fetch its guideline mappings from the network.
    const r = run(binary, [
        "-d",
        dir,
        "--framework",
        "kubernetes",
        "--quiet",
        "--skip-download",
        "-o",
        "json",
    ]);
    if (r.status !== 0 && r.status !== 1) {
        throw new Error(`checkov failed (exit ${r.status}): ${r.stderr}`);
    }
    const report: CheckovReport = JSON.parse(r.stdout);
    if (report.summary.resource_count === 0 || report.summary.parsing_errors > 0) {
        throw new Error(
            `checkov read no resources under ${dir}: ${JSON.stringify(report.summary)}`,
        );
    }
    return report.results.failed_checks.map((f) => ({
        checker: "checkov" as const,
        rule: f.check_id,
        object: f.resource,
        message: f.check_name,
    }));
}

/** Every finding of both checkers on the manifests under `dir`. */
export function lintManifests(
    dir: string,
    tools: { kubeScore: string; checkov: string },
): Finding[] {
    return [...kubeScore(tools.kubeScore, dir), ...checkov(tools.checkov, dir)];
}

/** A row of docs/policies.md's table: a rule that does not apply to the named stacks, and why. */
export interface AcceptedFinding {
    readonly checker: string;
    readonly rule: string;
    readonly stacks: readonly string[];
    readonly reason: string;
}

/**
 * The rows of docs/policies.md's "What manifest checkers say" table:
 * `| checker | \`rule\` | stack, stack | why it does not apply |`.
 */
export function acceptedFindings(
    pagePath = path.join(__dirname, "..", "..", "docs", "policies.md"),
) {
    const readme = fs.readFileSync(pagePath, "utf8");
    const start = readme.indexOf("### What manifest checkers say");
    if (start < 0) throw new Error(`${pagePath} has no "What manifest checkers say" section`);
    const section = readme.slice(start, readme.indexOf("\n#", start + 4));
    const rows: AcceptedFinding[] = [];
    for (const line of section.split("\n")) {
        const m = /^\| (kube-score|checkov) \| `([^`]+)` \| ([a-z, ]+) \| (.+) \|$/.exec(line);
        if (m === null) continue;
        const stacks = m[3].split(",").map((s) => s.trim());
        rows.push({ checker: m[1], rule: m[2], stacks, reason: m[4] });
    }
    return rows;
}
