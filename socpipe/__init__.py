"""The composition root: the only package that picks concrete adapters and starts processes.

`soc_core` is the kernel (models, errors, settings, ports); the stages (`ingest`, `normalizers`,
`detections`) and the services (`api`, `soc_console`) depend on it and on the ports only. This
package reads the settings once, builds the mode's store, bus and stages (`runtime`), registers the
scheduler's jobs (`jobs`), and runs the processes of both modes: the CLI (`cli`), the stage workers
(`workers`), the syslog receiver process (`receivers`), the workers' ops server (`ops`) and the
demo province (`demo`).
"""
