"""The benchmark suite behind `clickfit bench` (DESIGN.md section 7), one job per module:

    engines    the engine names of every table and the settings each one runs with
    datasets   the dataset registry: embedded simulated logs and the Yandex sample
    cache      one JSON file per fit, so that an interrupted run resumes
    record     one fit run, measured and scored into a cacheable record
    recovery   fitted against generating parameters on simulated data
    tables     Markdown and CSV tables, EM/gradient agreement
    figures    PNG figures
    results    the results directory: tables, figures, README.md and run.json of a run
    readme     results/README.md: what each file shows, where and how it was made
"""
