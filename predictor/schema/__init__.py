"""The model's inputs and their rules: the features with their bounds and wording, the one number
policy for text, and how values read in a sentence. Imports nothing of the app."""
