/** The tfk8s policy pack: `pulumi preview --policy-pack policy [--policy-pack-config policy/config/<stack>.json]`. */
import { PolicyPack } from "@pulumi/policy";
import { tfk8sPolicies } from "./policies";

new PolicyPack("tfk8s-guardrails", { policies: tfk8sPolicies("mandatory") });
