"""Azure context: where the agent runs (IMDS). Reading APIM and its subnet
through ARM with a managed identity is issue 18's next step."""
