using QuantPS.Gguf;

namespace QuantPS.PowerShell.Tests;

/// <summary>Test-Gguf: findings (with the file's Path) for good and bad files, and -Quiet for gating scripts.</summary>
public sealed class TestGgufTests(PowerShellSession session) : IClassFixture<PowerShellSession>
{
    [Fact]
    public void Stories260K_has_no_Error_or_Incompatible_finding()
    {
        var result = session.Run("Test-Gguf -Path $Model", ("Model", ModelFiles.Stories));

        Assert.Empty(result.Errors);
        Assert.DoesNotContain(result.Objects<GgufFinding>(), f => f.Severity >= GgufSeverity.Incompatible);
    }

    [Fact]
    public void Quiet_is_true_for_a_good_file()
    {
        var result = session.Run("Test-Gguf $Model -Quiet", ("Model", ModelFiles.Stories));

        Assert.True(result.Single<bool>());
    }

    [Fact]
    public void A_bad_file_gives_an_Error_finding_not_an_error_record()
    {
        var path = ModelFiles.WriteBadMagic(session.TempPath("bad-magic.gguf"));

        var result = session.Run("Test-Gguf -LiteralPath $Model", ("Model", path));

        Assert.Empty(result.Errors);
        var finding = Assert.Single(result.Objects<GgufFinding>());
        Assert.Equal(GgufSeverity.Error, finding.Severity);
        Assert.Equal("InvalidMagic", finding.Check);
        Assert.Equal(path, ScriptResult.Note(result.Output[0], "Path"));
    }

    [Fact]
    public void Severity_compares_with_a_name_as_scripts_gate_on_it()
    {
        var good = ModelFiles.WriteTiny(session.TempPath("gate-good.gguf"));
        var bad = ModelFiles.WriteTruncated(session.TempPath("gate-bad.gguf"));

        var result = session.Run(
            """
            foreach ($file in $Good, $Bad) {
                if (Test-Gguf $file | Where-Object Severity -ge 'Incompatible') { "refuse $([System.IO.Path]::GetFileName($file))" }
                else { "accept $([System.IO.Path]::GetFileName($file))" }
            }
            """,
            ("Good", good), ("Bad", bad));

        Assert.Empty(result.Errors);
        Assert.Equal(["accept gate-good.gguf", "refuse gate-bad.gguf"], result.Output.Select(o => (string)o.BaseObject));
    }

    [Fact]
    public void Quiet_gives_one_Boolean_per_file()
    {
        var good = ModelFiles.WriteTiny(session.TempPath("quiet-good.gguf"));
        var bad = ModelFiles.WriteUnsupportedVersion(session.TempPath("quiet-bad.gguf"));

        var result = session.Run("$Good, $Bad, $Missing | Test-Gguf -Quiet",
            ("Good", good), ("Bad", bad), ("Missing", session.TempPath("quiet-missing.gguf")));

        Assert.Empty(result.Errors);
        Assert.Equal([true, false, false], result.Output.Select(o => (bool)o.BaseObject));
    }

    [Fact]
    public void A_missing_file_is_one_Error_finding()
    {
        var path = session.TempPath("not-there.gguf");

        var result = session.Run("Test-Gguf $Model", ("Model", path));

        var finding = Assert.Single(result.Objects<GgufFinding>());
        Assert.Equal(GgufSeverity.Error, finding.Severity);
        Assert.Equal("FileNotFound", finding.Check);
    }

    [Fact]
    public void Wildcard_matching_nothing_is_an_error_or_with_Quiet_False()
    {
        var pattern = session.TempPath("nothing-*.gguf");

        var plain = session.Run("Test-Gguf $Pattern", ("Pattern", pattern));
        var quiet = session.Run("Test-Gguf $Pattern -Quiet", ("Pattern", pattern));

        Assert.StartsWith("GgufFileNotFound,", Assert.Single(plain.Errors).FullyQualifiedErrorId);
        Assert.False(quiet.Single<bool>());
    }

    [Fact]
    public void Findings_of_many_files_carry_their_Path()
    {
        var bad = ModelFiles.WriteBadMagic(session.TempPath("many-bad.gguf"));
        var truncated = ModelFiles.WriteTruncated(session.TempPath("many-truncated.gguf"));

        var result = session.Run(
            "[System.IO.FileInfo]::new($A), [System.IO.FileInfo]::new($B) | Test-Gguf | Where-Object Severity -eq 'Error' | ForEach-Object Path",
            ("A", bad), ("B", truncated));

        Assert.Empty(result.Errors);
        Assert.Equal([bad, truncated], result.Output.Select(o => (string)o.BaseObject));
    }

    [Fact]
    public void Findings_are_GgufFinding_with_every_property_a_view_shows()
    {
        var path = ModelFiles.WriteTruncated(session.TempPath("props.gguf"));

        var result = session.Run("Test-Gguf $Model", ("Model", path));

        var item = Assert.Single(result.Output);
        foreach (var name in new[] { "Check", "Severity", "Subject", "Message", "Offset", "Path" })
        {
            Assert.NotNull(item.Properties[name]);
        }
    }
}
