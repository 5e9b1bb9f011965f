"""The tables the "Walker SGD" notebook printed (seed 17, n = 100): facts to reproduce.

Stepper rows are "epoch<TAB>loss"; walker rows are "epoch<TAB>lr<TAB>loss".
"""

STEPPER_03 = """\
1	287112.469
2	44595.219
3	7959.141
4	2058.046
5	874.773
6	498.912
7	313.233
8	201.491
9	130.359
10	84.459
11	54.747
12	35.500
13	23.030
14	14.951
15	9.716
16	6.324
17	4.127
18	2.703
19	1.780
20	1.183
21	0.795
22	0.544
23	0.382
24	0.277
25	0.208
26	0.164
27	0.135
28	0.117
29	0.105
30	0.097"""
STEPPER_03_FINAL = "Final loss: 0.097 in 30 epochs."

WALKER_DEFAULT = """\
1	0.10	287112.469
2	0.50	2092.768
3	0.90	459.608
4	0.70	122.471
5	0.80	32.740
6	0.70	8.685
7	0.80	2.412
8	0.70	0.689
9	0.70	0.247
10	0.80	0.126
11	0.70	0.094"""
WALKER_DEFAULT_FINAL = "Final loss: 0.094 in 11 epochs."

# w0 = (-19, -19), lrs = np.linspace(0.1, 1, 7)
WALKER_M19 = """\
1	0.10	507.883
2	0.55	94.030
3	1.00	16.269
4	0.70	4.323
5	0.70	1.234
6	0.85	0.380
7	0.70	0.160
8	0.70	0.103
9	0.85	0.088"""
WALKER_M19_FINAL = "Final loss: 0.088 in 9 epochs."

# Benchmark block: fresh manual_seed(17), w0 = rand(2) * 1000 - 500 = tensor([-65.7588, 35.1096]),
# on the 100-point data. (final line, epochs) per optimizer.
BENCH_W0 = (-65.7588, 35.1096)
BENCH = {
    "walker lin:0.1:1:10": "Final loss: 0.096 in 9 epochs.",
    "stepper 0.1": "Final loss: 0.098 in 85 epochs.",
    "stepper 0.9": "Final loss: 0.100 in 36 epochs.",
    "stepper 0.5": "Final loss: 0.092 in 16 epochs.",
    "stepper 0.7": "Final loss: 0.089 in 11 epochs.",
}
