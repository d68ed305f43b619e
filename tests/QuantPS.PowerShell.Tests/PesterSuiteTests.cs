using QuantPS.TestSupport;

namespace QuantPS.PowerShell.Tests;

/// <summary>
/// The Pester 5 suite users run with Invoke-Pester (tests/pester), run here under real Pester 5.7.1 hosted in
/// process, one file per case: every test passes, none is lost, and under QUANTPS_REQUIRE_SHARED=1 none is skipped
/// (its Find-SharedFile then throws instead of skipping, as SharedData fails instead of skipping here).
/// </summary>
public sealed class PesterSuiteTests
{
    private static string SuiteFolder => Path.Combine(SharedData.RepoRoot, "tests", "pester");

    public static TheoryData<string> Files()
    {
        var files = new TheoryData<string>();
        foreach (var path in Directory.GetFiles(SuiteFolder, "*.Tests.ps1").Order(StringComparer.Ordinal))
        {
            files.Add(Path.GetFileName(path));
        }

        return files;
    }

    [Fact]
    public void The_suite_covers_every_cmdlet_file()
    {
        Assert.Equal(
            ["ConvertTo-Quantized.Tests.ps1", "Get-GgufInfo.Tests.ps1", "Invoke-LocalLlm.Tests.ps1", "Measure-LlmMemory.Tests.ps1", "Test-Gguf.Tests.ps1", "Tokenizer.Tests.ps1"],
            Files().Select(row => (string)row.Data));
    }

    [Theory]
    [MemberData(nameof(Files))]
    public void Passes_under_Pester(string file)
    {
        var summary = PesterRunner.Run(Path.Combine(SuiteFolder, file));
        var report = $"{file}: {summary.Result}, {summary.Passed}/{summary.Total} passed, {summary.Failed} failed, {summary.Skipped} skipped, " +
            $"{summary.NotRun} not run{Environment.NewLine}{string.Join(Environment.NewLine, summary.Failures.Concat(summary.Errors))}" +
            $"{Environment.NewLine}{summary.Log}";
        Assert.True(summary.Failed == 0 && summary.Failures.Count == 0 && summary.Errors.Count == 0, report);
        Assert.True(summary.Total > 0 && summary.NotRun == 0, report);
        Assert.True(summary.Passed + summary.Skipped == summary.Total, report);
        if (summary.Skipped > 0)
        {
            Assert.False(SharedData.Required, "QUANTPS_REQUIRE_SHARED=1 but Pester skipped tests: " + report);
            Assert.Skip($"{summary.Skipped} of {summary.Total} Pester tests skipped (../shared is not beside this clone); {summary.Passed} passed.");
        }

        Assert.Equal("Passed", summary.Result);
    }
}
