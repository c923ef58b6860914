/**
 * TEST DOUBLE of the `docker` resource provider plugin (pulumi-docker 5.2.0), for the integration
 * test only. The real provider cannot be built on our CI machine: the Go module proxy refuses
 * every version of github.com/pulumi/pulumi-docker (403), and no release binary can be downloaded.
 *
 * It serves the one resource the stack uses, `docker:index/image:Image`, over Pulumi's real
 * provider protocol (the SDK's `provider.main`); dockerImageProvider.ts says what it matches of
 * the real provider and how. The Pulumi engine, language host, kubernetes provider, Docker engine
 * and registry around it are all real.
 *
 * Started by the `pulumi-resource-docker` launcher that test/support/realStack.ts writes onto PATH.
 */
import * as grpc from "@grpc/grpc-js";
import * as provider from "@pulumi/pulumi/provider";
import { imageProvider } from "./dockerImageProvider";

/**
 * How often the double asks whether the engine is still there. The real provider, a Go plugin,
 * asks every 5 minutes and stops when the engine fails to answer (provider.Main and
 * rpcutil.Healthcheck in sdk v3.274.1); the Node SDK's `provider.main` never asks, so a double
 * whose engine was SIGKILLed (test:faults) would live on. Ours asks more often so such a run
 * leaves nothing behind for long; the program sees no difference.
 */
const ENGINE_CHECK_MS = 1_000;
/**
 * How long one check may take. The real provider's check has no deadline of its own: an engine
 * that is gone refuses the connection at once, while a busy one answers late. A 1 s deadline here
 * once stopped the double in the middle of two image builds on a loaded machine, which the real
 * provider would have ridden out; this bound only keeps a hung engine from holding it forever.
 */
const ENGINE_CHECK_DEADLINE_MS = 60_000;

/** Exits once the engine at `address` stops answering gRPC's health check. */
function exitWithEngine(address: string): void {
    const engine = new grpc.Client(address, grpc.credentials.createInsecure());
    // One check at a time: the next is asked for only once the last has answered.
    const check = () =>
        engine.makeUnaryRequest(
            "/grpc.health.v1.Health/Check",
            () => Buffer.alloc(0), // an empty HealthCheckRequest
            (bytes: Buffer) => bytes,
            Buffer.alloc(0),
            { deadline: Date.now() + ENGINE_CHECK_DEADLINE_MS },
            (err) => {
                // As in rpcutil.Healthcheck, an engine without the health service is alive.
                if (err !== null && err.code !== grpc.status.UNIMPLEMENTED) process.exit(0);
                setTimeout(check, ENGINE_CHECK_MS).unref();
            },
        );
    setTimeout(check, ENGINE_CHECK_MS).unref();
}

const args = process.argv.slice(2);
provider
    .main(imageProvider, args)
    .then(() => {
        const engine = args.find((a) => !a.startsWith("-"));
        if (engine !== undefined) exitWithEngine(engine);
    })
    .catch((err: Error) => {
        console.error(err);
        process.exit(1);
    });
