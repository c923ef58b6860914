// ESLint: typescript-eslint's recommended rules plus Pulumi's Output-in-template-literal checks.
import js from "@eslint/js";
import pulumi from "@pulumi/eslint-plugin";
import tseslint from "typescript-eslint";

export default tseslint.config(
    { ignores: ["node_modules/**", "bin/**", ".build/**", ".venv/**", ".model-cache/**"] },
    js.configs.recommended,
    ...tseslint.configs.recommended,
    {
        files: ["**/*.ts"],
        languageOptions: {
            parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
        },
        plugins: { "@pulumi": pulumi },
        rules: {
            "@pulumi/no-output-in-template-literal": "error",
            "@pulumi/no-output-instance-in-template-literal": "error",
            // Product code types its data (TF Serving's JSON is parsed as `unknown` and checked);
            // only tests are exempt, below.
            "@typescript-eslint/no-explicit-any": "error",
            // `require` is how we load optional backends and the SDK's untyped config helper.
            "@typescript-eslint/no-require-imports": "off",
            "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_" }],
        },
    },
    {
        // Test doubles and JSON from TF Serving are untyped by nature.
        files: ["test/**/*.ts"],
        rules: { "@typescript-eslint/no-explicit-any": "off" },
    },
);
