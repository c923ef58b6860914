import { promiseOf, resetRecorded, recorded, single } from "./mocks";
import * as assert from "assert";
import * as pulumi from "@pulumi/pulumi";
import {
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
    PolicyResource,
} from "@pulumi/policy";
import { GPU_RESOURCE as COMPONENT_GPU_RESOURCE } from "../components/deploymentSpec";
import { ModelServing } from "../components/modelServing";
import { TRACK_LABEL as COMPONENT_TRACK_LABEL } from "../components/modelTrack";
import {
    BASE_IMAGE_ANNOTATION as COMPONENT_BASE_IMAGE_ANNOTATION,
    MODEL_ACCURACY_ANNOTATION as COMPONENT_MODEL_ACCURACY_ANNOTATION,
} from "../components/servingPlan";
import {
    imageByDigest,
    networkPolicyInProduction,
    noPublicServiceInProduction,
    nonRoot,
    productionAvailability,
    readinessProbe,
    resourcesSet,
    TRACK_LABEL,
    BASE_IMAGE_ANNOTATION,
    GPU_RESOURCE,
    gpuMatchesImage,
    tfk8sPolicies,
} from "../policy/policies";
import { MODEL_ACCURACY_ANNOTATION, modelEvaluatedInProduction } from "../policy/modelEvaluated";
import {
    ENFORCE_LABEL,
    ENFORCE_VERSION_LABEL,
    podSecurityInProduction,
} from "../policy/podSecurity";

const DEPLOYMENT = "kubernetes:apps/v1:Deployment";
const SERVICE = "kubernetes:core/v1:Service";
const PDB = "kubernetes:policy/v1:PodDisruptionBudget";
const HPA = "kubernetes:autoscaling/v2:HorizontalPodAutoscaler";
const NETPOL = "kubernetes:networking.k8s.io/v1:NetworkPolicy";
const DIGEST = "ghcr.io/acme/mymodel-serving@sha256:" + "ab".repeat(32);

/** `isType` as the policy engine answers it: by the class's Pulumi type token. */
function isTypeOf(type: string) {
    return (cls: any) => (cls as { __pulumiType?: string }).__pulumiType === type;
}

/** Runs a resource policy on one resource; returns the violation messages. */
async function violations(
    policy: ResourceValidationPolicy,
    type: string,
    props: Record<string, any>,
    config: object = {},
): Promise<string[]> {
    const found: string[] = [];
    const schemaDefaults = Object.fromEntries(
        Object.entries(policy.configSchema?.properties ?? {}).map(([k, v]) => [
            k,
            (v as { default?: unknown }).default,
        ]),
    );
    const args = {
        type,
        props,
        urn: `urn:pulumi:test::tfk8s::${type}::x`,
        name: "x",
        isType: isTypeOf(type),
        getConfig: () => ({ ...schemaDefaults, ...config }),
    } as unknown as ResourceValidationArgs;
    const validate = policy.validateResource;
    for (const v of Array.isArray(validate) ? validate : [validate]) {
        await v?.(args, (message: string) => found.push(message));
    }
    return found;
}

/** What ModelServing actually declares, recorded through the mocks: the compliant baseline. */
async function declared(
    args: Partial<ConstructorParameters<typeof ModelServing>[1]> = {},
): Promise<{ deployment: any; service: any; pdb?: any; hpa?: any; netpol?: any }> {
    resetRecorded();
    const s = new ModelServing("p", {
        image: DIGEST,
        modelName: "mymodel",
        modelVersion: 1,
        ...args,
    });
    await promiseOf(pulumi.output(s.urn));
    await new Promise((r) => setImmediate(r));
    const pdbs = recorded.filter((r) => r.type === PDB);
    return {
        deployment: single(DEPLOYMENT).inputs,
        service: single(SERVICE).inputs,
        pdb: pdbs[0]?.inputs,
        hpa: recorded.find((r) => r.type === HPA)?.inputs,
        netpol: recorded.find((r) => r.type === NETPOL)?.inputs,
    };
}

/** Runs a stack policy on `resources` (type and props each); returns the violation messages. */
async function stackViolations(
    policy: StackValidationPolicy,
    resources: Array<[string, any]>,
    production: boolean,
    config: object = {},
): Promise<string[]> {
    const found: string[] = [];
    const args = {
        resources: resources.map(
            ([type, props], i) =>
                ({
                    type,
                    props,
                    urn: `u${i}`,
                    name: `r${i}`,
                    isType: isTypeOf(type),
                }) as unknown as PolicyResource,
        ),
        getConfig: () => ({ production, ...config }),
    } as unknown as StackValidationArgs;
    await policy.validateStack(args, (m: string) => found.push(m));
    return found;
}

function clone<T>(v: T): T {
    return JSON.parse(JSON.stringify(v));
}

describe("policy pack", () => {
    it("runs every policy at the level it is given", () => {
        const pack = tfk8sPolicies("advisory");
        assert.deepStrictEqual(
            pack.map((p) => p.name),
            [
                "image-by-digest",
                "resources-set",
                "readiness-probe",
                "non-root",
                "no-public-service-in-production",
                "production-availability",
                "network-policy-in-production",
                "gpu-matches-image",
                "pod-security-in-production",
                "model-evaluated-in-production",
            ],
        );
        assert.ok(pack.every((p) => p.enforcementLevel === "advisory"));
    });

    it("image-by-digest: passes a digest, rejects a mutable tag, allows content tags only when configured", async () => {
        const { deployment } = await declared();
        assert.deepStrictEqual(
            await violations(imageByDigest("mandatory"), DEPLOYMENT, deployment),
            [],
        );
        const tagged = clone(deployment);
        tagged.spec.template.spec.containers[0].image = "ghcr.io/acme/mymodel-serving:latest";
        assert.match(
            (await violations(imageByDigest("mandatory"), DEPLOYMENT, tagged))[0],
            /uses image "ghcr\.io\/acme\/mymodel-serving:latest"; reference it by digest/,
        );
        const local = clone(deployment);
        local.spec.template.spec.containers[0].image = "mymodel-serving:v1-0123456789ab";
        assert.strictEqual(
            (await violations(imageByDigest("mandatory"), DEPLOYMENT, local)).length,
            1,
        );
        assert.deepStrictEqual(
            await violations(imageByDigest("mandatory"), DEPLOYMENT, local, {
                allowContentAddressedTags: true,
            }),
            [],
        );
    });

    it("resources-set: passes the defaults, names each missing request or limit", async () => {
        const { deployment } = await declared();
        assert.deepStrictEqual(
            await violations(resourcesSet("mandatory"), DEPLOYMENT, deployment),
            [],
        );
        const bare = clone(deployment);
        bare.spec.template.spec.containers[0].resources = { requests: { cpu: "1" } };
        assert.deepStrictEqual(await violations(resourcesSet("mandatory"), DEPLOYMENT, bare), [
            'container "tensorflow-serving" does not set resources requests.memory, limits.cpu, limits.memory',
        ]);
    });

    it("readiness-probe: passes ours, rejects a container without one", async () => {
        const { deployment } = await declared();
        assert.deepStrictEqual(
            await violations(readinessProbe("mandatory"), DEPLOYMENT, deployment),
            [],
        );
        const noProbe = clone(deployment);
        delete noProbe.spec.template.spec.containers[0].readinessProbe;
        assert.deepStrictEqual(await violations(readinessProbe("mandatory"), DEPLOYMENT, noProbe), [
            'container "tensorflow-serving" has no readinessProbe',
        ]);
    });

    it("non-root: passes ours, rejects root and privilege escalation", async () => {
        const { deployment } = await declared();
        assert.deepStrictEqual(await violations(nonRoot("mandatory"), DEPLOYMENT, deployment), []);
        const root = clone(deployment);
        delete root.spec.template.spec.securityContext.runAsNonRoot;
        delete root.spec.template.spec.containers[0].securityContext;
        assert.deepStrictEqual(await violations(nonRoot("mandatory"), DEPLOYMENT, root), [
            'container "tensorflow-serving" does not set runAsNonRoot: true',
            'container "tensorflow-serving" does not set allowPrivilegeEscalation: false',
        ]);
    });

    it("model-evaluated-in-production: pods of an unevaluated model pass in dev, are refused in production", async () => {
        assert.strictEqual(MODEL_ACCURACY_ANNOTATION, COMPONENT_MODEL_ACCURACY_ANNOTATION);
        const policy = modelEvaluatedInProduction("mandatory");
        const evaluated = (await declared({ modelAccuracy: 0.9812 })).deployment;
        assert.strictEqual(
            evaluated.spec.template.metadata.annotations[MODEL_ACCURACY_ANNOTATION],
            "0.9812",
        );
        assert.deepStrictEqual(
            await violations(policy, DEPLOYMENT, evaluated, { production: true }),
            [],
        );
        const unevaluated = (await declared()).deployment;
        assert.deepStrictEqual(await violations(policy, DEPLOYMENT, unevaluated), []);
        assert.deepStrictEqual(
            await violations(policy, DEPLOYMENT, unevaluated, { production: true }),
            [
                "the pods carry no tfk8s.dev/model-accuracy: their model was not evaluated (skipModelEvaluation); " +
                    "production serves only models that passed the quality gate at preview",
            ],
        );
    });

    it("no-public-service-in-production: NodePort is fine in dev, refused in production unless allowed", async () => {
        const { service } = await declared();
        const policy = noPublicServiceInProduction("mandatory");
        assert.deepStrictEqual(await violations(policy, SERVICE, service), []);
        assert.match(
            (await violations(policy, SERVICE, service, { production: true }))[0],
            /Service type NodePort exposes the model/,
        );
        assert.deepStrictEqual(
            await violations(policy, SERVICE, service, {
                production: true,
                allowPublicService: true,
            }),
            [],
        );
        const internal = (await declared({ serviceType: "ClusterIP" })).service;
        assert.deepStrictEqual(
            await violations(policy, SERVICE, internal, { production: true }),
            [],
        );
    });

    it("production-availability: needs >= 2 replicas and a PDB selecting the pods", async () => {
        const run = (resources: Array<[string, any]>, production: boolean) =>
            stackViolations(productionAvailability("mandatory"), resources, production);
        const good = await declared({ replicas: 3, pdbMinAvailable: 2, serviceType: "ClusterIP" });
        assert.deepStrictEqual(
            await run(
                [
                    [DEPLOYMENT, good.deployment],
                    [PDB, good.pdb],
                ],
                true,
            ),
            [],
        );
        const single1 = await declared();
        assert.deepStrictEqual(await run([[DEPLOYMENT, single1.deployment]], true), [
            "Deployment r0 runs 1 replica(s); production needs at least 2",
            "Deployment r0 has no PodDisruptionBudget selecting its pods",
        ]);
        assert.deepStrictEqual(await run([[DEPLOYMENT, single1.deployment]], false), []);
        // With an autoscaler the Deployment has no count of its own; the autoscaler's minimum
        // is what production must keep at 2 or more.
        const scaled = await declared({
            replicas: 3,
            autoscaling: { maxReplicas: 6, cpuPercent: 70 },
            pdbMinAvailable: 2,
            serviceType: "ClusterIP",
        });
        assert.strictEqual(scaled.deployment.spec.replicas, undefined);
        const withHpa: Array<[string, any]> = [
            [DEPLOYMENT, scaled.deployment],
            [HPA, scaled.hpa],
            [PDB, scaled.pdb],
        ];
        assert.deepStrictEqual(await run(withHpa, true), []);
        assert.deepStrictEqual(await run([withHpa[0], withHpa[2]], true), [
            "Deployment r0 runs 1 replica(s); production needs at least 2",
        ]);
        const foreignPdb = clone(good.pdb);
        foreignPdb.spec.selector.matchLabels = { app: "other" };
        assert.deepStrictEqual(
            await run(
                [
                    [DEPLOYMENT, good.deployment],
                    [PDB, foreignPdb],
                ],
                true,
            ),
            ["Deployment r0 has no PodDisruptionBudget selecting its pods"],
        );
    });

    it("production-availability with a canary: one canary replica, a budget per track, 2 stable", async () => {
        const run = (resources: Array<[string, any]>) =>
            stackViolations(productionAvailability("mandatory"), resources, true);
        // What ModelServing declares for 4 pods at 25% with a budget: both Deployments, both PDBs.
        resetRecorded();
        const s = new ModelServing("p", {
            image: DIGEST,
            modelName: "mymodel",
            modelVersion: 1,
            replicas: 4,
            pdbMinAvailable: 2,
            serviceType: "ClusterIP",
            canary: { image: DIGEST, modelVersion: 2, weight: 25 },
        });
        await promiseOf(pulumi.output(s.urn));
        await new Promise((r) => setImmediate(r));
        const of = (type: string) => recorded.filter((r) => r.type === type).map((r) => r.inputs);
        const [stable, canary] = ["mymodel-serving", "mymodel-serving-canary"].map((name) => {
            const d = of(DEPLOYMENT).find((x) => x.metadata.name === name);
            assert.ok(d !== undefined, name);
            return d;
        });
        const [stablePdb, canaryPdb] = [false, true].map((isCanary) => {
            const pdb = of(PDB).find((p) => (p.spec.maxUnavailable !== undefined) === isCanary);
            assert.ok(pdb !== undefined);
            return pdb;
        });
        assert.strictEqual(canary.spec.template.metadata.labels[TRACK_LABEL], "canary");
        assert.strictEqual(TRACK_LABEL, COMPONENT_TRACK_LABEL);
        const all: Array<[string, any]> = [
            [DEPLOYMENT, stable],
            [DEPLOYMENT, canary],
            [PDB, stablePdb],
            [PDB, canaryPdb],
        ];
        assert.deepStrictEqual(await run(all), []);
        // The stable budget does not cover the canary: without its own, the canary is unguarded.
        assert.deepStrictEqual(await run(all.slice(0, 3)), [
            "Deployment r1 has no PodDisruptionBudget selecting its pods",
        ]);
        const dark = clone(canary);
        dark.spec.replicas = 0;
        assert.deepStrictEqual(await run([all[0], [DEPLOYMENT, dark], all[2], all[3]]), [
            "Deployment r1 runs 0 replica(s); production needs at least 1 for a canary",
        ]);
        // The stable track keeps the rule of two, canary or not.
        const thin = clone(stable);
        thin.spec.replicas = 1;
        assert.deepStrictEqual(await run([[DEPLOYMENT, thin], ...all.slice(1)]), [
            "Deployment r0 runs 1 replica(s); production needs at least 2",
        ]);
    });

    it("pod-security-in-production: production pods run in a namespace labelled restricted, or a reason is given", async () => {
        const NS = "kubernetes:core/v1:Namespace";
        const run = (resources: Array<[string, any]>, production: boolean, config = {}) =>
            stackViolations(podSecurityInProduction("mandatory"), resources, production, config);
        resetRecorded();
        const s = new ModelServing("p", {
            image: DIGEST,
            modelName: "mymodel",
            modelVersion: 1,
            namespace: "ml",
            createNamespace: true,
        });
        await promiseOf(pulumi.output(s.urn));
        await new Promise((r) => setImmediate(r));
        const namespace = single(NS).inputs;
        const deployment = single(DEPLOYMENT).inputs;
        // What the component labels its namespace with is what the policy asks for.
        assert.strictEqual(namespace.metadata.labels[ENFORCE_LABEL], "restricted");
        assert.ok(namespace.metadata.labels[ENFORCE_VERSION_LABEL]);
        assert.deepStrictEqual(
            await run(
                [
                    [NS, namespace],
                    [DEPLOYMENT, deployment],
                ],
                true,
            ),
            [],
        );
        const baseline = clone(namespace);
        baseline.metadata.labels[ENFORCE_LABEL] = "baseline";
        assert.deepStrictEqual(
            await run(
                [
                    [NS, baseline],
                    [DEPLOYMENT, deployment],
                ],
                true,
            ),
            [
                `Namespace r0 ("ml") has ${ENFORCE_LABEL}: baseline and ${ENFORCE_VERSION_LABEL}: v1.34; production needs restricted at a pinned version`,
            ],
        );
        const unpinned = clone(namespace);
        delete unpinned.metadata.labels[ENFORCE_VERSION_LABEL];
        assert.strictEqual(
            (
                await run(
                    [
                        [NS, unpinned],
                        [DEPLOYMENT, deployment],
                    ],
                    true,
                )
            ).length,
            1,
        );
        // A namespace the stack does not create: refused unless the config says why.
        const outside = await run([[DEPLOYMENT, deployment]], true);
        assert.strictEqual(outside.length, 1);
        assert.match(outside[0], /namespace "ml", which this stack does not create/);
        const reason = { exemptionReason: "ml is created and labelled by the platform team" };
        assert.deepStrictEqual(await run([[DEPLOYMENT, deployment]], true, reason), []);
        assert.deepStrictEqual(
            await run(
                [
                    [NS, baseline],
                    [DEPLOYMENT, deployment],
                ],
                false,
            ),
            [],
        );
    });

    it("network-policy-in-production: production pods need an ingress NetworkPolicy selecting them", async () => {
        const run = (resources: Array<[string, any]>, production: boolean) =>
            stackViolations(networkPolicyInProduction("mandatory"), resources, production);
        const guarded = await declared({
            namespace: "ml",
            networkAccess: { fromNamespaces: ["web"], fromPods: {} },
        });
        assert.ok(guarded.netpol, "ModelServing declared no NetworkPolicy");
        const both: Array<[string, any]> = [
            [DEPLOYMENT, guarded.deployment],
            [NETPOL, guarded.netpol],
        ];
        assert.deepStrictEqual(await run(both, true), []);
        const missing = [
            "Deployment r0 has no NetworkPolicy restricting ingress to its pods; set networkPolicy: true",
        ];
        assert.deepStrictEqual(await run([both[0]], true), missing);
        assert.deepStrictEqual(await run([both[0]], false), []);
        const egressOnly = clone(guarded.netpol);
        egressOnly.spec.policyTypes = ["Egress"];
        assert.deepStrictEqual(await run([both[0], [NETPOL, egressOnly]], true), missing);
        const elsewhere = clone(guarded.netpol);
        elsewhere.metadata.namespace = "other";
        assert.deepStrictEqual(await run([both[0], [NETPOL, elsewhere]], true), missing);
        const otherPods = clone(guarded.netpol);
        otherPods.spec.podSelector = { matchLabels: { app: "other" } };
        assert.deepStrictEqual(await run([both[0], [NETPOL, otherPods]], true), missing);
        const byExpression = clone(guarded.netpol);
        byExpression.spec.podSelector = {
            matchExpressions: [{ key: "app", operator: "Exists" }],
        };
        assert.deepStrictEqual(await run([both[0], [NETPOL, byExpression]], true), missing);
        // An empty podSelector selects every pod of its namespace.
        const allPods = clone(guarded.netpol);
        allPods.spec.podSelector = {};
        assert.deepStrictEqual(await run([both[0], [NETPOL, allPods]], true), []);
    });

    it("gpu-matches-image: passes CPU and GPU pods on their own images, rejects each mismatch and part devices", async () => {
        const policy = gpuMatchesImage("mandatory");
        const cpu = (await declared({ baseImage: "tensorflow/serving:2.20.0" })).deployment;
        const gpu = (
            await declared({
                baseImage: "tensorflow/serving:2.20.0-gpu",
                gpu: { count: 1, nodeSelector: {}, tolerations: [] },
            })
        ).deployment;
        assert.deepStrictEqual(await violations(policy, DEPLOYMENT, cpu), []);
        assert.deepStrictEqual(await violations(policy, DEPLOYMENT, gpu), []);
        // The policy reads what the components write.
        assert.strictEqual(BASE_IMAGE_ANNOTATION, COMPONENT_BASE_IMAGE_ANNOTATION);
        assert.strictEqual(GPU_RESOURCE, COMPONENT_GPU_RESOURCE);

        const container = (d: any) => d.spec.template.spec.containers[0];
        const cpuImageWithGpu = clone(gpu);
        cpuImageWithGpu.spec.template.metadata.annotations[BASE_IMAGE_ANNOTATION] =
            "tensorflow/serving:2.20.0";
        const gpuImageWithout = clone(cpu);
        gpuImageWithout.spec.template.metadata.annotations[BASE_IMAGE_ANNOTATION] =
            "tensorflow/serving:2.20.0-gpu";
        const half = clone(gpu);
        container(half).resources.limits[GPU_RESOURCE] = "0.5";
        const requested = clone(gpu);
        container(requested).resources.requests[GPU_RESOURCE] = "2";
        for (const [d, message] of [
            [
                cpuImageWithGpu,
                /asks for nvidia.com\/gpu 1 on the CPU base image tensorflow\/serving:2.20.0; build on its -gpu variant/,
            ],
            [
                gpuImageWithout,
                /runs the GPU base image tensorflow\/serving:2.20.0-gpu without a nvidia.com\/gpu limit/,
            ],
            [
                half,
                /asks for nvidia.com\/gpu "0.5"; expected a whole number of devices, at least 1/,
            ],
            [
                requested,
                /requests nvidia.com\/gpu "2" but its limit is "1"; expected the limit alone/,
            ],
        ] as const) {
            const found = await violations(policy, DEPLOYMENT, d);
            assert.strictEqual(found.length, 1, found.join("\n"));
            assert.match(found[0], message);
        }
    });
});
