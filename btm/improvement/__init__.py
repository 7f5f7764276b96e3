"""The improvement cycle of the BTM Standard, assess -> design -> execute -> improve: its
policy (config), phases, the backlog and its file, the monthly pulse, the review, what a
run and the PMO move on (progress), and the report's section."""
