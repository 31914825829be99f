"""The risk app's steps of the daily close: the day's portfolio snapshot,
then the early-warning rules, which read it. Each takes the business date
and returns how many rows it wrote, and is safe to run again."""
