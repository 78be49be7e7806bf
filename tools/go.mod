module github.com/tokenkeeper/tokenkeeper/tools

go 1.26.0
