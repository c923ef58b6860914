/**
 * The serving plan as a pure function: no engine and no mocks. The checks throw SettingErrors
 * with the field, the value and what was expected; the plan names every track's objects.
 */
import * as assert from "assert";
import { checkServing, planServing, splitReplicas } from "../components/servingPlan";
import { ModelServingArgs } from "../components/servingSettings";
import { SettingError } from "../programErrors";

const BASE: ModelServingArgs = { image: "r/m@sha256:1", modelName: "my_model", modelVersion: 1 };

/** Asserts that `f` throws a SettingError with this key, value and expectation. */
function refuses(f: () => unknown, key: string, value: unknown, expected: RegExp): void {
    assert.throws(f, (err: unknown) => {
        assert.ok(err instanceof SettingError, String(err));
        assert.deepStrictEqual([err.key, err.value], [key, value]);
        assert.match(err.expected, expected);
        return true;
    });
}

describe("the serving plan", () => {
    it("splits replicas by weight, refusing weights the pods cannot give", () => {
        assert.deepStrictEqual(splitReplicas(4, 25), { stable: 3, canary: 1 });
        assert.deepStrictEqual(splitReplicas(4, 50), { stable: 2, canary: 2 });
        assert.deepStrictEqual(splitReplicas(3, 33), { stable: 2, canary: 1 });
        assert.deepStrictEqual(splitReplicas(10, 10), { stable: 9, canary: 1 });
        refuses(
            () => splitReplicas(4, 30),
            "canary.weight",
            30,
            /^a share that replicas \(4\) pods give, each pod being 25%: 25 \(1 of 4\), 50 \(2 of 4\), 75 \(3 of 4\)$/,
        );
        refuses(() => splitReplicas(4, 0), "canary.weight", 0, /^1-99 .*remove canaryVersion/);
        refuses(() => splitReplicas(4, 100), "canary.weight", 100, /^1-99 .*make it modelVersion/);
        refuses(
            () => splitReplicas(1, 50),
            "canary.weight",
            50,
            /at least 2 pods, one per track \(replicas is 1\)/,
        );
        refuses(
            () => splitReplicas(40, 12),
            "canary.weight",
            12,
            /2\.5%: the nearest are 10 \(4 of 40\) and 13 \(5 of 40\)$/,
        );
    });

    it("splits by any weight of 1-99 when a route carries it, each track keeping a pod", () => {
        assert.deepStrictEqual(splitReplicas(4, 10, true), { stable: 3, canary: 1 });
        assert.deepStrictEqual(splitReplicas(2, 99, true), { stable: 1, canary: 1 });
        refuses(() => splitReplicas(4, 10), "canary.weight", 10, /a share that replicas \(4\)/);
    });

    it("checks what spans settings: the canary, the scaling, the node host, the namespace, the sizes", () => {
        const canary = { modelVersion: 2, weight: 25 };
        const cases: Array<[Parameters<typeof checkServing>[0], string, unknown, RegExp]> = [
            [{ ...BASE, replicas: 0 }, "replicas", 0, /an integer >= 1/],
            [
                { ...BASE, replicas: 4, canary: { ...canary, modelVersion: 1 } },
                "canary.modelVersion",
                1,
                /other than the stable track's \(1\)/,
            ],
            [
                { ...BASE, replicas: 3, autoscaling: { maxReplicas: 2, cpuPercent: 80 } },
                "autoscaling.maxReplicas",
                2,
                /at least replicas \(3\)/,
            ],
            [
                { ...BASE, replicas: 4, pdbMinAvailable: 3, canary },
                "pdbMinAvailable",
                3,
                /fewer than the stable track's pods \(3\)/,
            ],
            [
                { ...BASE, replicas: 2, pdbMinAvailable: 2 },
                "pdbMinAvailable",
                2,
                /fewer than replicas \(2\)/,
            ],
            [{ ...BASE, nodeHost: "node:1" }, "nodeHost", "node:1", /without scheme, port/],
            [
                { ...BASE, createNamespace: true, namespace: "kube-system" },
                "namespace",
                "kube-system",
                /a namespace of the model's own/,
            ],
            [
                { ...BASE, serviceType: "ClusterIP", nodePort: 30111 },
                "nodePort",
                30111,
                /no nodePort with serviceType ClusterIP/,
            ],
            [
                {
                    ...BASE,
                    resources: {
                        cpuRequest: "2",
                        cpuLimit: "1",
                        memoryRequest: "1Gi",
                        memoryLimit: "2Gi",
                        ephemeralStorageRequest: "1Gi",
                        ephemeralStorageLimit: "2Gi",
                    },
                },
                "resources.cpuRequest",
                "2",
                /at most cpuLimit \(1\)/,
            ],
        ];
        for (const [args, key, value, expected] of cases) {
            refuses(() => checkServing(args), key, value, expected);
        }
        assert.deepStrictEqual(checkServing({ ...BASE, replicas: 4, canary }), {
            stable: 3,
            canary: 1,
        });
    });

    it("plans one stable track under the serving's own names, as before tracks existed", () => {
        const plan = planServing("serving", { ...BASE, replicas: 2, pdbMinAvailable: 1 });
        assert.strictEqual(plan.objectName, "my-model-serving");
        assert.deepStrictEqual(
            plan.tracks.map((t) => [t.name, t.settings.objectName, t.settings.replicas]),
            [["serving", "my-model-serving", 2]],
        );
        const stable = plan.tracks[0].settings;
        assert.strictEqual(stable.service, undefined, "a track Service without a canary");
        assert.deepStrictEqual(stable.disruptionBudget, { minAvailable: 1 });
        assert.deepStrictEqual(stable.podLabels, { "tfk8s.dev/track": "stable" });
        assert.strictEqual(stable.labels["app.kubernetes.io/component"], "model-server");
        assert.strictEqual(plan.nodeEndpoint, "http://localhost:30111");
        assert.deepStrictEqual(plan.service, { type: "NodePort", nodePort: undefined });
        assert.strictEqual(plan.objectAnnotations, undefined);
        assert.strictEqual(plan.route, undefined);
    });

    it("plans a canary track next to it: its own names, Service, budget, model and weight", () => {
        const plan = planServing("serving", {
            ...BASE,
            replicas: 4,
            pdbMinAvailable: 2,
            serviceType: "ClusterIP",
            skipAwait: true,
            modelAccuracy: 0.97,
            gateway: { parentName: "gw", hostnames: [] },
            canary: { image: "r/m@sha256:2", modelVersion: 2, modelAccuracy: 0.98, weight: 30 },
        });
        assert.deepStrictEqual(plan.replicasByTrack, { stable: 3, canary: 1 });
        const [stable, canary] = plan.tracks;
        assert.deepStrictEqual(
            [stable.name, canary.name],
            ["serving", "serving-canary"],
            "the Pulumi names of the tracks' former ModelDeployments",
        );
        assert.deepStrictEqual(stable.settings.service, {
            name: "serving-stable",
            objectName: "my-model-serving-stable",
        });
        assert.deepStrictEqual(canary.settings.service, {
            name: "serving-canary",
            objectName: "my-model-serving-canary",
        });
        assert.strictEqual(canary.settings.objectName, "my-model-serving-canary");
        assert.deepStrictEqual(canary.settings.disruptionBudget, { maxUnavailable: 1 });
        assert.deepStrictEqual(stable.settings.disruptionBudget, { minAvailable: 2 });
        assert.deepStrictEqual(canary.settings.podAnnotations, {
            "tfk8s.dev/model-name": "my_model",
            "tfk8s.dev/model-version": "2",
            "tfk8s.dev/model-accuracy": "0.9800",
        });
        assert.strictEqual(stable.settings.podAnnotations["tfk8s.dev/model-accuracy"], "0.9700");
        assert.deepStrictEqual(canary.settings.objectAnnotations, {
            "pulumi.com/skipAwait": "true",
        });
        assert.strictEqual(plan.nodeEndpoint, undefined, "a ClusterIP Service has no node URL");
        assert.deepStrictEqual(plan.route?.canaryWeight, 30);
    });
});
