using System.Management.Automation.Language;
using QuantPS.TestSupport;

namespace QuantPS.PowerShell.Tests;

/// <summary>
/// build.ps1 and the Pester tests cannot run here (no pwsh, no Pester); at least the PowerShell
/// parser must accept them, and the Pester files must use version 5 blocks.
/// </summary>
public sealed class ScriptSyntaxTests
{
    public static TheoryData<string> Scripts()
    {
        var data = new TheoryData<string> { "build.ps1" };
        foreach (var file in Directory.EnumerateFiles(Path.Combine(SharedData.RepoRoot, "tests", "pester"), "*.ps1").Order())
        {
            data.Add(Path.GetRelativePath(SharedData.RepoRoot, file).Replace('\\', '/'));
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(Scripts))]
    public void Script_parses_without_errors(string relativePath)
    {
        Parser.ParseFile(Path.Combine(SharedData.RepoRoot, relativePath), out _, out var errors);

        Assert.True(errors.Length == 0, string.Join("\n", errors.Select(e => $"{e.Extent.StartLineNumber}: {e.Message}")));
    }

    [Fact]
    public void Pester_files_cover_both_cmdlets_with_Pester_5_blocks()
    {
        var folder = Path.Combine(SharedData.RepoRoot, "tests", "pester");
        foreach (var name in new[] { "Get-GgufInfo.Tests.ps1", "Test-Gguf.Tests.ps1", "Measure-LlmMemory.Tests.ps1" })
        {
            var ast = Parser.ParseFile(Path.Combine(folder, name), out _, out _);
            var commands = ast.FindAll(a => a is CommandAst, searchNestedScriptBlocks: true)
                .Cast<CommandAst>().Select(c => c.GetCommandName()).ToHashSet(StringComparer.OrdinalIgnoreCase);

            Assert.Contains("BeforeAll", commands);
            Assert.Contains("Describe", commands);
            Assert.Contains("It", commands);
            Assert.Contains("Should", commands);
            Assert.Contains(name.Replace(".Tests.ps1", string.Empty, StringComparison.Ordinal), commands);
        }
    }
}
