"""Comics: planning a request against the model's rules, layouts, styles, edits of one part,
records and lineage, the OpenAI Images API and its table of models, the offline storyboard."""
