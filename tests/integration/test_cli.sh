# test_cli.sh -- both programs behave like Unix tools: --help, --version, usage errors.
for prog in "$PWCCA" "$PWCCAD"; do
    name=$(basename "$prog")
    expect_output "$name --version prints its name and version" "^$name [0-9]+\.[0-9]+\.[0-9]+$" "$prog" --version
    expect_output "$name --help starts with Usage" "^Usage: $name" "$prog" --help
    expect_status "$name --help exits 0" 0 "$prog" --help
done
expect_status "pwcca with no command is a usage error" 2 "$PWCCA"
expect_status "pwcca with an unknown command is a usage error" 2 "$PWCCA" frobnicate
# The command list names --vs where a command takes it.
expect_output "pwcca --help: curve's line names --vs" "^  curve +RUN .*--vs RUN_B" "$PWCCA" --help
expect_output "pwcca --help: plot's line names --vs" "^  plot +RUN .*--vs RUN_B" "$PWCCA" --help
