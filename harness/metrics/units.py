"""Clock units: times are integer nanoseconds on the run clock; figures leave in ms or s."""

NS_PER_MS = 1e6
NS_PER_S = 1e9
