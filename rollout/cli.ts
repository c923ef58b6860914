/**
 * `npm run rollout -- --stack <stack> --version <n> [model options]`: a progressive rollout of a
 * canary driven through Pulumi's Automation API (`automationStack.ts`), judged on live traffic
 * after every step (`window.ts`, `analysis.ts`), promoted at 100% or rolled back at the first
 * failed check. Prints each step's preview summary and a table at the end, writes
 * `rollout-report.json`, and exits 0 only for a promotion.
 */
import { Stack } from "@pulumi/pulumi/automation";
import { runMain } from "../client/cliSupport";
import { mnistTestSample } from "../client/mnist";
import { imagesFromPixels } from "../client/inputs";
import { runSmoke } from "../client/smoke";
import { SmokeArguments, parseSmokeArguments } from "../client/smokeArguments";
import { predictBody } from "../client/tfServingClient";
import { Reader } from "../config/reader";
import { RolloutSettings, readRollout } from "../config/rollout";
import { ROLLOUT_USAGE, parseRolloutArguments } from "./arguments";
import { AutomationStack, configValues, selectProjectStack } from "./automationStack";
import { formatReport, writeReport } from "./report";
import { Judge, rollBack, runRollout } from "./run";
import { decideStart, parseState } from "./state";
import { scrapePage } from "./prometheus";
import { planSteps } from "./steps";
import { reachTrackPods } from "./trackPods";
import { judgeWindow } from "./window";

/** Probe requests per second to each track during a window. */
const PROBE_RATE = 10;
/** A probe slower than this counts as failed. */
const PROBE_TIMEOUT_MS = 5_000;
/** Fewest requests a track must serve in a window to be judged. */
const MIN_WINDOW_REQUESTS = 20;

/** The stack outputs the judge reads (index.ts returns them). */
interface JudgeOutputs {
    readonly namespace: string;
    readonly modelName: string;
    readonly metricsPath?: string;
    readonly canary?: { readonly serviceName?: string; readonly stableServiceName?: string };
}

/**
 * The analysis after each step, on the live cluster: a port-forward to every Ready pod behind
 * each track's Service, probes taking turns over them for the window, the canary's smoke check,
 * and, when the pods serve TF Serving's Prometheus page, a scrape of each at the window's start
 * and end, whose figures then judge the track.
 */
function liveJudge(
    stack: Stack,
    stackName: string,
    settings: RolloutSettings,
    body: string,
    context: string | undefined,
    log: (line: string) => void,
): Judge {
    return async () => {
        const outputs = Object.fromEntries(
            Object.entries(await stack.outputs()).map(([k, v]) => [k, v.value]),
        ) as unknown as JudgeOutputs;
        const services = outputs.canary;
        if (services?.serviceName === undefined || services.stableServiceName === undefined) {
            throw new Error(`stack ${stackName}'s outputs name no canary and stable Services`);
        }
        const reached = await reachTrackPods(
            outputs.namespace,
            { stable: services.stableServiceName, canary: services.serviceName },
            context,
        );
        const metricsPath = outputs.metricsPath;
        try {
            log(
                `analysis: ${settings.windowSeconds} s of probes at ${PROBE_RATE}/s per track to ` +
                    `${reached.pods.stable.length} stable and ${reached.pods.canary.length} canary pods; ` +
                    (metricsPath === undefined
                        ? "figures from the probes (enableMonitoring is off)"
                        : `figures from each pod's ${metricsPath}`),
            );
            return await judgeWindow(
                reached.urls,
                {
                    modelName: outputs.modelName,
                    body,
                    seconds: settings.windowSeconds,
                    ratePerSecond: PROBE_RATE,
                    timeoutMs: PROBE_TIMEOUT_MS,
                },
                { ...settings, minRequests: MIN_WINDOW_REQUESTS },
                // Without --help the parser gives arguments, never "help".
                (url) =>
                    runSmoke(
                        parseSmokeArguments([
                            ...["--stack", stackName, "--track", "canary", "--url", url],
                        ]) as SmokeArguments,
                        log,
                    ),
                metricsPath === undefined ? undefined : (url) => scrapePage(`${url}${metricsPath}`),
            );
        } finally {
            reached.close();
        }
    };
}

async function main(): Promise<number> {
    const args = parseRolloutArguments(process.argv.slice(2));
    if (args === "help") {
        process.stdout.write(`${ROLLOUT_USAGE}\n`);
        return 0;
    }
    const log = (line: string) => process.stdout.write(`${line}\n`);
    const stack = await selectProjectStack(args.stack);
    if (args.cancel) {
        await stack.cancel();
        log(`cancelled the unfinished update that locked stack ${args.stack}`);
    }
    const r = new Reader(await configValues(stack));
    const replicas = r.integer("replicas", 1) as number;
    const routed = r.string("gatewayParent") !== undefined;
    const pdbMinAvailable = r.integer("pdbMinAvailable", 1);
    const settings = readRollout(r, replicas, routed, pdbMinAvailable);
    const recorded = r.raw("rolloutState");
    const decision = decideStart(recorded === undefined ? undefined : parseState(recorded), args);
    const weights =
        decision.kind === "start"
            ? planSteps(replicas, routed, settings.steps, pdbMinAvailable).steps.map(
                  (s) => s.weight,
              )
            : decision.state.weights;
    const plan = planSteps(replicas, routed, weights);
    const image = await mnistTestSample(1);
    const body = predictBody(imagesFromPixels(image.pixels, 1));
    const context = r.string("kubeContext");
    const judge = liveJudge(stack, args.stack, settings, body, context, log);
    const run = {
        stackName: args.stack,
        stack: new AutomationStack(stack, args.policy),
        judge,
        plan,
        log,
    };
    const report =
        decision.kind === "rollback"
            ? await rollBack(run, decision.state)
            : await runRollout(
                  run,
                  decision.kind === "resume"
                      ? decision.state
                      : {
                            version: decision.version,
                            model: args.model,
                            weights,
                            step: 0,
                            phase: "step",
                        },
              );
    log(formatReport(report));
    writeReport(args.reportFile, report);
    log(`report: ${args.reportFile}`);
    // A rollback the user asked for succeeded; one the analysis forced is the canary failing.
    const asked = decision.kind === "rollback" && report.outcome === "rolled back";
    return report.outcome === "promoted" || asked ? 0 : 1;
}

if (require.main === module) {
    runMain(main, ROLLOUT_USAGE);
}
