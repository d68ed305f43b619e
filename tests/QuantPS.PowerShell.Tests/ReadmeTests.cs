using QuantPS.Gguf;
using QuantPS.TestSupport;

namespace QuantPS.PowerShell.Tests;

/// <summary>
/// The README's main-job command, as a user runs it from a fresh clone: the demo model ships in
/// samples/, so this never depends on ../shared.
/// </summary>
public sealed class ReadmeTests
{
    [Fact]
    public void The_readme_main_job_runs_on_the_demo_model_from_the_repository_root()
    {
        var readme = File.ReadAllText(Path.Combine(SharedData.RepoRoot, "README.md"));
        const string MainJob = "Import-Module ./out/QuantPS/QuantPS.psd1; Get-GgufInfo ./samples/stories260K.gguf";
        Assert.Contains(MainJob, readme, StringComparison.Ordinal);

        using var session = new PowerShellSession();
        var result = session.Run(
            "$null = $ExecutionContext.SessionState.Path.SetLocation($Root); " + MainJob,
            ("Root", SharedData.RepoRoot));

        Assert.Empty(result.Errors);
        var info = result.Single<GgufModelInfo>();
        Assert.Equal(("llama", "F32", 48, 512L), (info.Architecture, info.FileType, info.TensorCount, info.VocabularySize));
    }
}
