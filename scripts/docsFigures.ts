/**
 * The figures each bench's JSON gives the docs (scripts/docs-tables.ts renders them): per bench,
 * the command that remakes its JSON, the file, and each figure's label and dotted field.
 */

/** One figure: what it is, and where in its bench's JSON it lives (a dotted path). */
export type Figure = readonly [label: string, field: string];

/** A bench whose figures the docs show. */
export interface FiguresSource {
    readonly command: string;
    readonly file: string;
    readonly figures: readonly Figure[];
}

/** The figures of each bench the docs show, by the name of their block in docs/performance.md. */
export const FIGURES: Record<string, FiguresSource> = {
    train: {
        command: "npm run bench:train",
        file: "bench/results/train.json",
        figures: [
            ["epochs", "epochs"],
            ["batch size", "batchSize"],
            ["graph trainer: seconds per epoch", "graph.secondsPerEpoch"],
            ["graph trainer: set-up outside the epochs, s", "graph.setupSeconds"],
            ["graph trainer: test accuracy", "graph.testAccuracy"],
            ["graph trainer: peak RSS, MB", "graph.peakRssMb"],
            ["layers trainer: seconds per epoch", "layers.secondsPerEpoch"],
            ["layers trainer: test accuracy", "layers.testAccuracy"],
            ["layers trainer: peak RSS, MB", "layers.peakRssMb"],
            ["Keras: seconds per epoch", "keras.secondsPerEpoch"],
            ["Keras: set-up outside the epochs, s", "keras.setupSeconds"],
            ["Keras: test accuracy", "keras.testAccuracy"],
            ["graph / Keras seconds per epoch", "ratio"],
            ["one graph epoch in one session run, s", "profile.epochSeconds"],
            ["of it on a CPU: compute, s", "profile.cpuSeconds.compute"],
            ["of it on a CPU: data movement, s", "profile.cpuSeconds.dataMovement"],
            ["of it on a CPU: executor, s", "profile.cpuSeconds.executor"],
            ["of it off a CPU (other work on the machine), s", "profile.offCpuSeconds"],
            ["the epoch's matrix products, GFLOP", "profile.matmulGflopPerEpoch"],
            ["peak of a 1024x1024 product on all cores, GFLOP/s", "profile.peakGflops"],
            ["compute limit: the products at that peak, s", "profile.computeLimitSeconds"],
            ["upload of the data into the session (once), s", "profile.uploadSeconds"],
            ["one test-set evaluation in the graph, s", "profile.evaluateSeconds"],
            [
                "one-core floor: the hidden layer's product, its gradient and Adam on its kernel, s per epoch",
                "floor.secondsPerEpoch",
            ],
            [
                "graph, 1 intra-op and 1 inter-op thread, oneDNN off (the default): s per epoch",
                "runtime.[setting=1/1].secondsPerEpoch",
            ],
            [
                "graph, 1 intra-op and 1 inter-op thread, oneDNN on: s per epoch",
                "runtime.[setting=1/1 oneDNN].secondsPerEpoch",
            ],
            [
                "graph, 1 intra-op, 2 inter-op threads: s per epoch",
                "runtime.[setting=1/2].secondsPerEpoch",
            ],
            [
                "graph, 2 intra-op, 1 inter-op thread: s per epoch",
                "runtime.[setting=2/1].secondsPerEpoch",
            ],
            [
                "graph, 2 intra-op, 2 inter-op threads: s per epoch",
                "runtime.[setting=2/2].secondsPerEpoch",
            ],
        ],
    },
    graph: {
        command: "npm run bench:graph",
        file: "bench/results/graph.json",
        figures: [
            ["export of the SavedModel, median ms", "export.medianMs"],
            ["saved_model.pb size / raw weight bytes", "export.sizeRatio"],
            ["batch 1: ours, median ms per call", "batches.1.medianMs.ours_serving_default"],
            ["batch 1: Keras export, median ms per call", "batches.1.medianMs.keras_export"],
            ["batch 1: Keras ms / ours ms", "batches.1.ratioServingDefault"],
            ["batch 1000: ours, median ms per call", "batches.1000.medianMs.ours_serving_default"],
            ["batch 1000: Keras export, median ms per call", "batches.1000.medianMs.keras_export"],
            ["batch 1000: Keras ms / ours ms", "batches.1000.ratioServingDefault"],
            [
                "batch 1000: largest output difference from Keras",
                "batches.1000.maxAbsDiffOursVsKeras",
            ],
        ],
    },
    client: {
        command: "npm run bench:client",
        file: "bench/results/client.json",
        figures: [
            ["batch 1, REST: p50 ms", "batch1.rest.p50Ms"],
            ["batch 1, gRPC: p50 ms", "batch1.grpc.p50Ms"],
            ["batch 1, REST: request bytes", "batch1.rest.requestBytes"],
            ["batch 1, gRPC: request bytes", "batch1.grpc.requestBytes"],
            ["batch 100, REST: p50 ms", "batch100.rest.p50Ms"],
            ["batch 100, gRPC: p50 ms", "batch100.grpc.p50Ms"],
            ["batch 100, REST: p99 ms", "batch100.rest.p99Ms"],
            ["batch 100, gRPC: p99 ms", "batch100.grpc.p99Ms"],
            ["batch 100, REST: response bytes", "batch100.rest.responseBytes"],
            ["batch 100, gRPC: response bytes", "batch100.grpc.responseBytes"],
        ],
    },
    stack: {
        command: "npm run bench:stack",
        file: "bench/results/stack.json",
        figures: [
            ["pulumi preview, the first in a fresh copy (trains), s", "firstPreviewSeconds"],
            [
                "first preview: Node and the Pulumi SDK starting, s",
                "firstPreviewStages.[stage=Node and Pulumi SDK start-up].seconds",
            ],
            ["pulumi preview, cold model cache (trains), s", "coldPreviewSeconds"],
            ["pulumi preview, warm model cache, s", "warmPreviewSeconds"],
            ["cold preview / warm preview (target: at most 1.6)", "coldOverWarm"],
            [
                "cold preview: the CLI, engine and plugins before the program, s",
                "coldPreviewStages.[stage=pulumi CLI, engine and plugins before the program].seconds",
            ],
            [
                "cold preview: Node and the Pulumi SDK starting, s",
                "coldPreviewStages.[stage=Node and Pulumi SDK start-up].seconds",
            ],
            ["cold preview: data load, s", "coldPreviewStages.[stage=data load].seconds"],
            [
                "cold preview: TensorFlow starting, s",
                "coldPreviewStages.[stage=TensorFlow start-up].seconds",
            ],
            ["cold preview: training, s", "coldPreviewStages.[stage=training].seconds"],
            [
                "cold preview: evaluation and cache entry, s",
                "coldPreviewStages.[stage=evaluation and cache entry].seconds",
            ],
            ["cold preview: export, s", "coldPreviewStages.[stage=export].seconds"],
            [
                "cold preview: the rest of the program (resources), s",
                "coldPreviewStages.[stage=the rest of the program (resources)].seconds",
            ],
            [
                "cold preview: engine and plugins after the program, s",
                "coldPreviewStages.[stage=engine and plugins after the program].seconds",
            ],
            [
                "warm preview: Node and the Pulumi SDK starting, s",
                "warmPreviewStages.[stage=Node and Pulumi SDK start-up].seconds",
            ],
            [
                "warm preview: cached model load, s",
                "warmPreviewStages.[stage=cached model load].seconds",
            ],
            [
                "warm preview: the rest of the program (resources), s",
                "warmPreviewStages.[stage=the rest of the program (resources)].seconds",
            ],
            ["pulumi up from an empty stack, s", "upFromEmptySeconds"],
            ["pulumi up with nothing changed, s", "noChangeUpSeconds"],
        ],
    },
    "first-up": {
        command: "npm run bench:first-up",
        file: "bench/results/first-up.json",
        figures: [
            ["up:dev succeeded (exit status)", "upStatus"],
            ["the whole first up:dev, minutes", "totalMinutes"],
            ["longest silence between two lines, s", "longestSilenceSeconds"],
            ["lines printed", "lines"],
            ["building the Pulumi CLI, s", "steps.[step=pulumi CLI].seconds"],
            ["building the kubernetes provider, s", "steps.[step=kubernetes provider].seconds"],
            ["building kube-apiserver, s", "steps.[step=go build kube-apiserver].seconds"],
            [
                "debootstrap of the stand-in's rootfs, s",
                "steps.[step=debootstrap bookworm].seconds",
            ],
        ],
    },
    rollout: {
        command: "npm run bench:rollout",
        file: "bench/results/rollout.json",
        figures: [
            ["requests during the rollout", "rollout.sent"],
            ["failed requests during the rollout", "rollout.failed"],
            ["p50 latency, ms", "rollout.p50Ms"],
            ["p99 latency, ms", "rollout.p99Ms"],
            ["rollout (the pulumi up that waits for it), s", "rollout.rolloutSeconds"],
            ["new pods, creation to Ready, s", "podStartToReadySeconds"],
            ["canary: observed share of calls", "canary.observedShare"],
            ["canary: share its ready pods imply", "canary.expectedShare"],
            ["failed requests during the rollback", "rollback.failed"],
            ["failed requests during the promotion", "promote.failed"],
            ["peak memory of the node's processes, MiB", "peakMemoryMiB.nodeMiB"],
            ["peak memory of the pods, MiB", "peakMemoryMiB.podsMiB"],
        ],
    },
    progressive: {
        command: "npm run bench:progressive",
        file: "bench/results/rollout.json",
        figures: [
            ["users' requests per second (each on a new connection)", "progressive.usersPerSecond"],
            ["good canary: outcome", "progressive.promoted.outcome"],
            ["good canary: steps", "progressive.promoted.plan"],
            [
                "good canary: seconds from the first step to promoted",
                "progressive.promoted.seconds",
            ],
            [
                "good canary: where the window's figures came from",
                "progressive.promoted.windows.0.source",
            ],
            [
                "good canary at 10%: canary requests judged (users' and probes')",
                "progressive.promoted.windows.[weight=10].checks.errors.requests",
            ],
            [
                "good canary at 10%: canary p99 over stable p99",
                "progressive.promoted.windows.[weight=10].checks.latency.ratio",
            ],
            [
                "good canary at 50%: canary p99 over stable p99",
                "progressive.promoted.windows.[weight=50].checks.latency.ratio",
            ],
            ["good canary: users' requests", "progressive.promoted.users.sent"],
            ["good canary: users' requests failed", "progressive.promoted.users.failed"],
            ["wrong canary: outcome", "progressive.rolledBack.wrong.outcome"],
            ["wrong canary: its check failed", "progressive.rolledBack.wrong.itsCheck"],
            [
                "wrong canary: seconds from its step's start to the rollback's end",
                "progressive.rolledBack.wrong.rollbackSeconds",
            ],
            ["wrong canary: users' requests", "progressive.rolledBack.wrong.users.sent"],
            ["wrong canary: users' requests failed", "progressive.rolledBack.wrong.users.failed"],
            ["failing canary: outcome", "progressive.rolledBack.failing.outcome"],
            ["failing canary: its check failed", "progressive.rolledBack.failing.itsCheck"],
            [
                "failing canary: seconds from its step's start to the rollback's end",
                "progressive.rolledBack.failing.rollbackSeconds",
            ],
            ["failing canary: users' requests", "progressive.rolledBack.failing.users.sent"],
            [
                "failing canary: users' requests failed",
                "progressive.rolledBack.failing.users.failed",
            ],
            ["slow canary: outcome", "progressive.rolledBack.slow.outcome"],
            ["slow canary: its check failed", "progressive.rolledBack.slow.itsCheck"],
            [
                "slow canary: seconds from its step's start to the rollback's end",
                "progressive.rolledBack.slow.rollbackSeconds",
            ],
            ["slow canary: users' requests", "progressive.rolledBack.slow.users.sent"],
            ["slow canary: users' requests failed", "progressive.rolledBack.slow.users.failed"],
            [
                "killed in a window: the step its rolloutState recorded (from 0)",
                "progressive.resumedAfterKill.recordedState.step",
            ],
            ["killed in a window: --resume ended", "progressive.resumedAfterKill.next.outcome"],
            [
                "killed in a window: users' requests failed",
                "progressive.resumedAfterKill.users.failed",
            ],
            ["killed in a window: users' requests", "progressive.resumedAfterKill.users.sent"],
            [
                "killed in an up: --rollback without --cancel",
                "progressive.rolledBackAfterKill.withoutCancel.error",
            ],
            [
                "killed in an up: --rollback --cancel ended",
                "progressive.rolledBackAfterKill.next.outcome",
            ],
            [
                "killed in an up: processes the killed CLI left",
                "progressive.rolledBackAfterKill.leftoverProcesses",
            ],
            [
                "killed in an up: users' requests failed",
                "progressive.rolledBackAfterKill.users.failed",
            ],
            ["killed in an up: users' requests", "progressive.rolledBackAfterKill.users.sent"],
            ["targets", "progressive.targets"],
        ],
    },
    resilience: {
        command: "npm run bench:resilience",
        file: "bench/results/resilience.json",
        figures: [
            ["measured traffic: requests per second", "steadyLoad.ratePerSecond"],
            ["measured traffic: kept-alive connections", "steadyLoad.connections"],
            ["measured traffic: the client's retries", "steadyLoad.retries"],
            ["the generator alone: requests/s asked", "capacity.generatorAlone.ratePerSecond"],
            ["the generator alone: p99 start lag, ms", "capacity.generatorAlone.startLagP99Ms"],
            ["the generator alone: its cores", "capacity.generatorAlone.generatorCores"],
            [
                "highest rate served of those tried (no failure, p99 under 250 ms)",
                "capacity.servedRatePerSecond",
            ],
            ["at 400/s: failed requests", "capacity.cluster.[ratePerSecond=400].failed"],
            ["at 400/s: p50 ms", "capacity.cluster.[ratePerSecond=400].p50Ms"],
            ["at 400/s: p99 ms", "capacity.cluster.[ratePerSecond=400].p99Ms"],
            ["at 400/s: the pods' cores", "capacity.cluster.[ratePerSecond=400].podCores"],
            [
                "at 400/s: the generator's cores",
                "capacity.cluster.[ratePerSecond=400].generatorCores",
            ],
            ["at 400/s: host CPU busy", "capacity.cluster.[ratePerSecond=400].hostCpuBusy"],
            ["at 800/s: failed requests", "capacity.cluster.[ratePerSecond=800].failed"],
            ["at 800/s: p50 ms", "capacity.cluster.[ratePerSecond=800].p50Ms"],
            ["at 800/s: p99 ms", "capacity.cluster.[ratePerSecond=800].p99Ms"],
            ["at 800/s: the pods' cores", "capacity.cluster.[ratePerSecond=800].podCores"],
            [
                "at 800/s: the generator's cores",
                "capacity.cluster.[ratePerSecond=800].generatorCores",
            ],
            ["at 800/s: host CPU busy", "capacity.cluster.[ratePerSecond=800].hostCpuBusy"],
            ["at 1600/s: failed requests", "capacity.cluster.[ratePerSecond=1600].failed"],
            ["at 1600/s: p50 ms", "capacity.cluster.[ratePerSecond=1600].p50Ms"],
            ["at 1600/s: p99 ms", "capacity.cluster.[ratePerSecond=1600].p99Ms"],
            ["at 1600/s: the pods' cores", "capacity.cluster.[ratePerSecond=1600].podCores"],
            [
                "at 1600/s: the generator's cores",
                "capacity.cluster.[ratePerSecond=1600].generatorCores",
            ],
            ["at 1600/s: host CPU busy", "capacity.cluster.[ratePerSecond=1600].hostCpuBusy"],
            ["autoscaler: seconds to the first new ready pod", "scale.secondsToFirstNewReadyPod"],
            ["autoscaler: seconds to the maximum (4 pods)", "scale.secondsToMaxReplicas"],
            [
                "autoscaler: seconds back to 2 pods after the load",
                "scale.secondsBackToMinAfterLoad",
            ],
            ["autoscaler: requests sent", "scale.load.sent"],
            ["autoscaler: failed requests", "scale.load.failed"],
            ["evictions: refusals of the second (429)", "evictions.refusals"],
            [
                "evictions: seconds until the second was allowed",
                "evictions.secondsUntilSecondEvictionAllowed",
            ],
            ["evictions: requests sent", "evictions.load.sent"],
            ["evictions: failed requests", "evictions.load.failed"],
            [
                "killed server, no retries: requests sent",
                "killedServerProcess.withoutRetries.load.sent",
            ],
            [
                "killed server, no retries: failed requests",
                "killedServerProcess.withoutRetries.load.failed",
            ],
            [
                "killed server, client's retries: requests sent",
                "killedServerProcess.withRetries.load.sent",
            ],
            [
                "killed server, client's retries: failed requests",
                "killedServerProcess.withRetries.load.failed",
            ],
            [
                "killed server, client's retries: succeeded after a retry",
                "killedServerProcess.withRetries.load.succeededAfterRetry",
            ],
            [
                "killed server: seconds until the pod was ready again",
                "killedServerProcess.withRetries.secondsUntilPodReadyAgain",
            ],
            ["kubelet restarted: requests sent", "restarts.kubelet.load.sent"],
            ["kubelet restarted: failed requests", "restarts.kubelet.load.failed"],
            [
                "kubelet restarted: fewest ready pods a poll saw",
                "restarts.kubelet.fewestReadyPodsSeen",
            ],
            [
                "kubelet restarted: a new connection per request, sent",
                "restarts.kubelet.newConnections.sent",
            ],
            [
                "kubelet restarted: a new connection per request, failed",
                "restarts.kubelet.newConnections.failed",
            ],
            ["containerd restarted: requests sent", "restarts.containerd.load.sent"],
            ["containerd restarted: failed requests", "restarts.containerd.load.failed"],
            ["kube-proxy restarted: requests sent", "restarts.kubeProxy.load.sent"],
            ["kube-proxy restarted: failed requests", "restarts.kubeProxy.load.failed"],
            ["API server stopped 30 s: requests sent", "restarts.apiServerStopped30s.load.sent"],
            [
                "API server stopped 30 s: failed requests",
                "restarts.apiServerStopped30s.load.failed",
            ],
            ["Pod Security: a host-network root pod", "podSecurity.hostNetworkRootPodRefusedWith"],
            ["Pod Security: a privileged pod", "podSecurity.privilegedPodRefusedWith"],
            [
                "NetworkPolicy: the kernel's answer to the enforcer's rule",
                "networkPolicy.kernelAnswer",
            ],
            ["soak (10 min): requests sent", "soak.load.sent"],
            ["soak (10 min): failed requests", "soak.load.failed"],
            ["soak: p99 ms", "soak.load.p99Ms"],
            ["soak: p99 slope, ms per minute", "soak.p99SlopeMsPerMinute"],
            ["soak: pods' memory, mean MiB", "soak.podMemoryMeanMiB"],
            ["soak: pods' memory slope, MiB per minute", "soak.podMemorySlopeMiBPerMinute"],
            ["soak: pods' memory change over the soak, %", "soak.podMemoryChangePercent"],
        ],
    },
    endpoint: {
        command: "npm run bench:endpoint",
        file: "bench/results/endpoint.json",
        figures: [
            ["1 client, p50 ms, 127.0.0.1:30111 (the forwarder)", "clients1.forwarder.p50Ms"],
            ["1 client, p50 ms, the node's IP", "clients1.nodeIp.p50Ms"],
            [
                "1 client, p50 ms, a relay without TCP_NODELAY",
                "clients1.forwarderWithoutNodelay.p50Ms",
            ],
            ["1 client, p95 ms, the forwarder", "clients1.forwarder.p95Ms"],
            ["1 client, p95 ms, without TCP_NODELAY", "clients1.forwarderWithoutNodelay.p95Ms"],
            ["1 client, requests/s, the forwarder", "clients1.forwarder.requestsPerSecond"],
            ["1 client, requests/s, the node's IP", "clients1.nodeIp.requestsPerSecond"],
            [
                "1 client, requests/s, without TCP_NODELAY",
                "clients1.forwarderWithoutNodelay.requestsPerSecond",
            ],
            ["16 clients, requests/s, the forwarder", "clients16.forwarder.requestsPerSecond"],
            ["16 clients, requests/s, the node's IP", "clients16.nodeIp.requestsPerSecond"],
            [
                "16 clients, requests/s, without TCP_NODELAY",
                "clients16.forwarderWithoutNodelay.requestsPerSecond",
            ],
            ["failed requests, 16 clients, the forwarder", "clients16.forwarder.failed"],
            ["failed requests, 16 clients, the node's IP", "clients16.nodeIp.failed"],
            ["forwarder p50 minus node IP p50, ms (target: within 1)", "oneClientP50GapMs"],
        ],
    },
};
