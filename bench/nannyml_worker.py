"""NannyML's multivariate drift on one scenario, for `bench/relations.py`: runs in NannyML's own virtual environment
(NannyML 0.13.1 pins pandas < 3 and its own scikit-learn), never imports mlpuzzle.

    NML_DISABLE_USAGE_LOGGING=1 NML_DISABLE_USER_ANALYTICS=1 /work/nml-venv/bin/python bench/nannyml_worker.py \\
        DATA_DIR {pca,dc} ROWS

DATA_DIR holds `reference.parquet`, `analysis.parquet` (rows in window order, `ROWS` a window) and `columns.json`
({"numeric": [...], "categorical": [...]}). Prints one JSON object: the method, the seconds to fit and calculate,
and each analysis chunk's value, thresholds and alert.
"""
import json, os, sys, time
from pathlib import Path

os.environ.setdefault("NML_DISABLE_USAGE_LOGGING", "1")
os.environ.setdefault("NML_DISABLE_USER_ANALYTICS", "1")


def calculator(method: str, columns: dict, rows: int):
    "NannyML's calculator `method` (pca: data reconstruction, dc: domain classifier) with its defaults."
    import nannyml as nml
    features = columns["numeric"] + columns["categorical"]
    if method == "pca": return nml.DataReconstructionDriftCalculator(column_names=features, chunk_size=rows)
    return nml.DomainClassifierCalculator(feature_column_names=features, treat_as_categorical=columns["categorical"],
                                          chunk_size=rows)


def run(data: Path, method: str, rows: int) -> dict:
    "Fit on the reference, calculate on the analysis windows; the chunks' values and alerts."
    import pandas as pd
    reference, analysis = pd.read_parquet(data / "reference.parquet"), pd.read_parquet(data / "analysis.parquet")
    columns = json.loads((data / "columns.json").read_text())
    t0 = time.perf_counter()
    res = calculator(method, columns, rows).fit(reference).calculate(analysis)
    seconds = time.perf_counter() - t0
    df = res.filter(period="analysis").to_df()
    metric = [c for c in df.columns.levels[0] if c != "chunk"][0]
    m = df[metric]
    return {"method": method, "seconds": seconds, "metric": metric, "values": m["value"].astype(float).tolist(),
            "upper_threshold": m["upper_threshold"].astype(float).tolist(), "alerts": m["alert"].astype(bool).tolist()}


if __name__ == "__main__":
    print(json.dumps(run(Path(sys.argv[1]), sys.argv[2], int(sys.argv[3]))))
