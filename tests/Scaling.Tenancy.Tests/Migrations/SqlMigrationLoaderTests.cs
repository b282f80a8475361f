using Scaling.Tenancy.Migrations;

namespace Scaling.Tenancy.Tests.Migrations;

public sealed class SqlMigrationLoaderTests : IDisposable
{
    private readonly string _root = Directory.CreateTempSubdirectory("scaling-migrations-").FullName;

    public void Dispose() => Directory.Delete(_root, recursive: true);

    [Fact]
    public async Task Loads_a_folder_with_scopes_from_sub_folders_and_headers_sorted_by_version()
    {
        Write("0001_create_common.sql", "-- scaling: scope=all\nCREATE TABLE common (id int);");
        Write("shards/0003_create_bookings.sql", "CREATE TABLE bookings (id int);");
        Write("metadata/0002_create_tenants.sql", "CREATE TABLE tenants (id text);");
        Write("all/10_add_note.sql", "-- scaling: no-transaction\nCREATE INDEX CONCURRENTLY i ON common (id);");
        Write("README.md", "not a migration");

        var migrations = await SqlMigrationLoader.FromDirectoryAsync(_root);

        Assert.Equal([1L, 2L, 3L, 10L], migrations.Select(m => m.Version));
        Assert.Equal(["create_common", "create_tenants", "create_bookings", "add_note"], migrations.Select(m => m.Name));
        Assert.Equal([MigrationScope.All, MigrationScope.Metadata, MigrationScope.Shards, MigrationScope.All], migrations.Select(m => m.Scope));
        Assert.Equal(Path.Combine(_root, "shards", "0003_create_bookings.sql"), migrations[2].Origin);
        Assert.False(migrations[3].Transactional);
        Assert.Equal(SqlMigration.ComputeChecksum("CREATE TABLE bookings (id int);"), migrations[2].Checksum);
    }

    [Fact]
    public async Task An_empty_folder_has_no_migrations_and_a_missing_one_is_an_error()
    {
        Assert.Empty(await SqlMigrationLoader.FromDirectoryAsync(_root));
        var missing = Path.Combine(_root, "nope");
        var e = await Assert.ThrowsAsync<MigrationLoadException>(() => SqlMigrationLoader.FromDirectoryAsync(missing));
        Assert.Equal(missing, e.Location);
    }

    [Fact]
    public async Task Two_files_with_the_same_version_are_an_error_naming_both()
    {
        Write("shards/0002_create_bookings.sql", "SELECT 1");
        Write("metadata/002_create_tenants.sql", "SELECT 2");

        var e = await Assert.ThrowsAsync<MigrationLoadException>(() => SqlMigrationLoader.FromDirectoryAsync(_root));

        Assert.Contains("Two migrations have version 2", e.Message, StringComparison.Ordinal);
        Assert.Contains(Path.Combine("shards", "0002_create_bookings.sql"), e.Message, StringComparison.Ordinal);
        Assert.Contains(Path.Combine("metadata", "002_create_tenants.sql"), e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("shards/create_bookings.sql", "is not '{version}_{name}.sql'")]
    [InlineData("shards/0001-create_bookings.sql", "is not '{version}_{name}.sql'")]
    [InlineData("shards/0001_.sql", "is not '{version}_{name}.sql'")]
    [InlineData("shards/0001_create bookings.sql", "is not '{version}_{name}.sql'")]
    [InlineData("shards/0000_zero.sql", "a version must be between 1 and")]
    [InlineData("shards/99999999999999999999_huge.sql", "is not '{version}_{name}.sql'")]
    [InlineData("0001_no_scope.sql", "has no scope")]
    [InlineData("legacy/0001_old.sql", "is in the folder 'legacy'")]
    public async Task A_badly_named_or_placed_file_is_an_error_naming_it(string file, string expected)
    {
        Write(file, "SELECT 1");

        var e = await Assert.ThrowsAsync<MigrationLoadException>(() => SqlMigrationLoader.FromDirectoryAsync(_root));

        Assert.Contains(expected, e.Message, StringComparison.Ordinal);
        Assert.Contains(Path.GetFileName(file), e.Message, StringComparison.Ordinal);
        Assert.Equal(Path.Combine(_root, file), e.Location);
    }

    [Fact]
    public async Task A_bad_directive_or_a_header_that_contradicts_the_folder_is_an_error_naming_the_file()
    {
        Write("shards/0001_a.sql", "-- scaling: notransaction\nSELECT 1");
        var typo = await Assert.ThrowsAsync<MigrationLoadException>(() => SqlMigrationLoader.FromDirectoryAsync(_root));
        Assert.Contains("unknown directive 'notransaction'", typo.Message, StringComparison.Ordinal);
        Assert.Contains("0001_a.sql", typo.Message, StringComparison.Ordinal);

        Write("shards/0001_a.sql", "-- scaling: scope=metadata\nSELECT 1");
        var conflict = await Assert.ThrowsAsync<MigrationLoadException>(() => SqlMigrationLoader.FromDirectoryAsync(_root));
        Assert.Contains("declares scope=metadata but is given scope shards", conflict.Message, StringComparison.Ordinal);
        Assert.Contains("0001_a.sql", conflict.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Loads_resource_names_as_embedded_by_msbuild()
    {
        (string, string)[] resources =
        [
            ("App.Migrations.shards.0002_create_bookings.sql", "CREATE TABLE bookings (id int);"),
            ("App.Migrations.0001_create_common.sql", "-- scaling: scope=all\nCREATE TABLE common (id int);"),
            ("App.Migrations.metadata.0003_create_tenants.sql", "CREATE TABLE tenants (id text);"),
        ];

        var migrations = SqlMigrationLoader.FromResources(resources, "App.Migrations.");

        Assert.Equal([1L, 2L, 3L], migrations.Select(m => m.Version));
        Assert.Equal([MigrationScope.All, MigrationScope.Shards, MigrationScope.Metadata], migrations.Select(m => m.Scope));
        Assert.Equal("App.Migrations.shards.0002_create_bookings.sql", migrations[1].Origin);

        var e = Assert.Throws<MigrationLoadException>(() => SqlMigrationLoader.FromResources([("App.Migrations.legacy.0004_x.sql", "SELECT 1")], "App.Migrations."));
        Assert.Contains("App.Migrations.legacy.0004_x.sql", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_assembly_without_matching_resources_is_an_error_not_an_empty_set()
    {
        var e = await Assert.ThrowsAsync<MigrationLoadException>(() => SqlMigrationLoader.FromEmbeddedResourcesAsync(typeof(SqlMigrationLoaderTests).Assembly, "Nothing.Here."));
        Assert.Contains("has no embedded .sql resource whose name starts with 'Nothing.Here.'", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_set_built_in_code_is_sorted_and_checked_for_duplicate_versions()
    {
        var sorted = SqlMigrationLoader.FromCode([new(5, "b", MigrationScope.Shards, "SELECT 5"), new(2, "a", MigrationScope.All, "SELECT 2")]);
        Assert.Equal([2L, 5L], sorted.Select(m => m.Version));

        var e = Assert.Throws<MigrationLoadException>(() => SqlMigrationLoader.FromCode([new(5, "b", MigrationScope.Shards, "SELECT 5"), new(5, "c", MigrationScope.Metadata, "SELECT 6")]));
        Assert.Contains("Two migrations have version 5: 5 'b' and 5 'c'", e.Message, StringComparison.Ordinal);
    }

    private void Write(string relativePath, string text)
    {
        var path = Path.Combine(_root, relativePath);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllText(path, text);
    }
}
