using Xunit;

namespace QuantPS.TestSupport;

/// <summary>
/// The one way tests reach ../shared (real models and llama.cpp goldens). Where it is absent
/// (a user's clone) a test skips with a reason; under QUANTPS_REQUIRE_SHARED=1 (CI) it fails instead.
/// </summary>
public static class SharedData
{
    private static readonly Lazy<string?> Root = new(FindRoot);

    /// <summary>The repository root: the folder holding QuantPS.sln.</summary>
    public static string RepoRoot { get; } = FindRepoRoot();

    /// <summary>True when a missing ../shared must fail the run rather than skip.</summary>
    public static bool Required =>
        Environment.GetEnvironmentVariable("QUANTPS_REQUIRE_SHARED") == "1";

    /// <summary>The absolute path of a file under ../shared, or skip/fail when it is not there.</summary>
    public static string File(string relativePath)
    {
        var root = Root.Value;
        var path = root is null ? null : Path.Combine(root, relativePath);
        if (path is not null && (System.IO.File.Exists(path) || Directory.Exists(path)))
        {
            return path;
        }

        var reason = root is null
            ? $"../shared is not beside this clone (set QUANTPS_SHARED to its path); needed: {relativePath}"
            : $"{relativePath} is missing from {root}";
        if (Required)
        {
            Assert.Fail("QUANTPS_REQUIRE_SHARED=1 but " + reason);
        }

        Assert.Skip(reason);
        return null!; // unreachable: Assert.Skip throws
    }

    private static string? FindRoot()
    {
        var fromEnv = Environment.GetEnvironmentVariable("QUANTPS_SHARED");
        if (!string.IsNullOrEmpty(fromEnv))
        {
            return Directory.Exists(fromEnv) ? Path.GetFullPath(fromEnv) : null;
        }

        var beside = Path.GetFullPath(Path.Combine(RepoRoot, "..", "shared"));
        return Directory.Exists(beside) ? beside : null;
    }

    private static string FindRepoRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (System.IO.File.Exists(Path.Combine(dir.FullName, "QuantPS.sln")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException("QuantPS.sln not found above " + AppContext.BaseDirectory);
    }
}
