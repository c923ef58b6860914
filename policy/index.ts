/** The tfk8s policy pack: `pulumi preview --policy-pack policy [--policy-pack-config policy/config/<stack>.json]`. */
import { PolicyPack } from "@pulumi/policy";
import {
    imageByDigest,
    noPublicServiceInProduction,
    nonRoot,
    productionAvailability,
    readinessProbe,
    resourcesSet,
} from "./policies";

new PolicyPack("tfk8s-guardrails", {
    policies: [
        imageByDigest("mandatory"),
        resourcesSet("mandatory"),
        readinessProbe("mandatory"),
        nonRoot("mandatory"),
        noPublicServiceInProduction("mandatory"),
        productionAvailability("mandatory"),
    ],
});
