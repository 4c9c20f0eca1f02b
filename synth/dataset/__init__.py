"""`distill build`: the journal's answers → filters → a Hugging Face `DatasetDict`.

builder.py        the build: stream, filter, spool, split, write <run>/dataset/
config.py         the `filters:` and `dataset:` sections of the run config
rows.py           the columns of a dataset row, listed once
funnel.py         where the teacher's answers went, and what each loss cost
splits.py         train / validation / test, stratified, whole near-duplicate groups
neardup.py        MinHash signatures and LSH bands over inputs
neardup_index.py  is this input a near duplicate of one kept before?
spill.py          per-row data on disk (a SQLite key index, column files): flat memory
writer.py         the dataset in save_to_disk's layout in one pass, and JSONL exports
export.py         `distill export`: the training conversations as OpenAI fine-tuning JSONL
teacher_dist.py   the teacher's distribution over the labels, from its top-K log-probs
filters/          one module per filter behind one base (finish, refusal, labels,
                  json_schema, length, dedup, agreement)
"""
