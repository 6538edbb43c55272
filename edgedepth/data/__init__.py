"""Data: datasets in the layouts users hold, read through one interface (`datasets.open_dataset`,
`datasets.load_sample`), the synthetic generator that writes each of them, image and video files in and
out, and the one preprocessing definition."""
