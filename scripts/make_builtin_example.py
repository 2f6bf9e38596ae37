"""Regenerate thermotwin/data/diabetes_ridge_{A,b}.mtx (needs scikit-learn; run once by hand).

A = XᵀX/n + αI, b = Xᵀy/n, with X the standardised diabetes baseline variables and y the
standardised disease progression (Efron et al., Ann. Stat. 2004, via sklearn.datasets.load_diabetes).
"""

from pathlib import Path

import numpy as np
import scipy.io
from sklearn.datasets import load_diabetes

ALPHA = 0.25

X, y = load_diabetes(return_X_y=True, scaled=False)
X = (X - X.mean(0)) / X.std(0)
y = (y - y.mean()) / y.std()
n = X.shape[0]
A = X.T @ X / n + ALPHA * np.eye(X.shape[1])
A = 0.5 * (A + A.T)
b = X.T @ y / n
out = Path(__file__).resolve().parents[1] / "thermotwin" / "data"
comment = "ridge normal equations, diabetes data (Efron et al. 2004, scikit-learn), alpha=0.25"
scipy.io.mmwrite(out / "diabetes_ridge_A.mtx", A, comment=comment, symmetry="symmetric", precision=17)
scipy.io.mmwrite(out / "diabetes_ridge_b.mtx", b.reshape(-1, 1), comment=comment, precision=17)
ev = np.linalg.eigvalsh(A)
print("eigenvalues", ev.min(), ev.max(), "cond", ev.max() / ev.min())
print("x*", np.linalg.solve(A, b))
