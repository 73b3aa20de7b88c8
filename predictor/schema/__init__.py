"""A model's inputs and their rules: each input's kind, bounds and words (inputs), the schema file
that gives them (schema_file), the shipped animals model's inputs (features), the one number policy
for text (numbers), and how values read in a sentence (wording). Imports nothing of the app."""
