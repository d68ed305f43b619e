using System.Text.RegularExpressions;
using QuantPS.Inference.Generation;
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
        const string MainJob = "Import-Module ./out/QuantPS/QuantPS.psd1; Invoke-LocalLlm -Model ./samples/stories260K.gguf -Temperature 0 -MaxTokens 48";
        Assert.Contains(MainJob, readme, StringComparison.Ordinal);

        using var session = new PowerShellSession();
        var result = session.Run(
            "$null = $ExecutionContext.SessionState.Path.SetLocation($Root); " + MainJob,
            ("Root", SharedData.RepoRoot));

        Assert.Empty(result.Errors);
        var reply = result.Single<LocalLlmResult>();
        // llama.cpp's greedy continuation from BOS (../shared/models/README.md quotes it; golden/logits holds it).
        Assert.Equal(" Once upon a time, there was a little girl named Lily. She loved to play outside in the park. One day, she saw a big, red ball. She wanted to", reply.Text);
        Assert.Equal(48, reply.GeneratedTokens);
    }

    [Fact]
    public void The_readme_main_job_command_runs_verbatim_with_its_list_view()
    {
        // The exact -Command text of the README's first set-up line, Format-List included (pwsh's Utility module here).
        var readme = File.ReadAllText(Path.Combine(SharedData.RepoRoot, "README.md"));
        var command = Regex.Match(readme, "dotnet build -c Release; pwsh -NoProfile -Command \"([^\"]+)\"");
        Assert.True(command.Success, "The README's first set-up line (dotnet build, then pwsh -Command) is missing.");

        using var session = new PowerShellSession(withPlatformModules: true);
        var result = session.Run(
            "$null = $ExecutionContext.SessionState.Path.SetLocation($Root); " + command.Groups[1].Value + " | Out-String -Width 200",
            ("Root", SharedData.RepoRoot));

        Assert.Empty(result.Errors);
        var shown = (string)Assert.Single(result.Output).BaseObject;
        Assert.Matches(@"Text\s+:\s+Once upon a time, there was a little girl named Lily\.", shown);
        Assert.Matches(@"GeneratedTokens\s+: 48", shown);
        Assert.Matches(@"StopReason\s+: MaxTokens", shown);
    }
}
