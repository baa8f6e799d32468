module tldb

go 1.19
