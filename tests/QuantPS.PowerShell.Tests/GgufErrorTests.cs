using System.Management.Automation;
using QuantPS.Gguf;

namespace QuantPS.PowerShell.Tests;

/// <summary>Each way a file can fail gives its stable ErrorId, a fitting category and the path as TargetObject.</summary>
public sealed class GgufErrorTests(PowerShellSession session) : IClassFixture<PowerShellSession>
{
    public static TheoryData<string, string, ErrorCategory> Failures => new()
    {
        { "missing", "GgufFileNotFound", ErrorCategory.ObjectNotFound },
        { "bad-magic", "GgufInvalidMagic", ErrorCategory.InvalidData },
        { "truncated", "GgufTruncated", ErrorCategory.InvalidData },
        { "unsupported-version", "GgufUnsupportedVersion", ErrorCategory.NotImplemented },
    };

    private string Make(string kind)
    {
        var path = session.TempPath($"{kind}-{Guid.NewGuid():N}.gguf");
        return kind switch
        {
            "missing" => path,
            "bad-magic" => ModelFiles.WriteBadMagic(path),
            "truncated" => ModelFiles.WriteTruncated(path),
            "unsupported-version" => ModelFiles.WriteUnsupportedVersion(path),
            _ => throw new ArgumentOutOfRangeException(nameof(kind)),
        };
    }

    [Theory]
    [MemberData(nameof(Failures))]
    public void Get_GgufInfo_reports_the_engines_ErrorId(string kind, string errorId, ErrorCategory category)
    {
        var path = Make(kind);

        var result = session.Run("Get-GgufInfo -LiteralPath $Model", ("Model", path));

        Assert.Empty(result.Output);
        var error = Assert.Single(result.Errors);
        Assert.Equal(errorId + ",QuantPS.PowerShell.GetGgufInfoCommand", error.FullyQualifiedErrorId);
        Assert.Equal(category, error.CategoryInfo.Category);
        Assert.Equal(path, error.TargetObject);
        var exception = Assert.IsType<GgufException>(error.Exception);
        Assert.Equal(errorId, exception.ErrorId);
        Assert.Contains(Path.GetFileName(path), exception.Message);
    }

    [Theory]
    [MemberData(nameof(Failures))]
    public void Path_without_wildcards_gives_the_same_ErrorId(string kind, string errorId, ErrorCategory category)
    {
        var path = Make(kind);

        var result = session.Run("Get-GgufInfo $Model -Tensor", ("Model", path));

        var error = Assert.Single(result.Errors);
        Assert.StartsWith(errorId + ",", error.FullyQualifiedErrorId);
        Assert.Equal(category, error.CategoryInfo.Category);
    }

    [Fact]
    public void Errors_are_catchable_by_ErrorId_as_scripts_do()
    {
        var result = session.Run(
            """
            try { Get-GgufInfo $Model -ErrorAction Stop }
            catch { if ($_.FullyQualifiedErrorId -like 'GgufFileNotFound,*') { 'caught' } }
            """,
            ("Model", session.TempPath("nowhere.gguf")));

        Assert.Equal("caught", result.Single<string>());
    }

    [Fact]
    public void Truncated_data_section_is_reported()
    {
        var path = ModelFiles.WriteTiny(session.TempPath("short-data.gguf"));
        var bytes = File.ReadAllBytes(path);
        File.WriteAllBytes(path, bytes[..^16]);

        var result = session.Run("Get-GgufInfo -LiteralPath $Model", ("Model", path));

        var error = Assert.Single(result.Errors);
        Assert.Equal(ErrorCategory.InvalidData, error.CategoryInfo.Category);
        Assert.StartsWith("Gguf", error.FullyQualifiedErrorId);
    }
}
