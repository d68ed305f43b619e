using System.Management.Automation;
using QuantPS.Gguf;

namespace QuantPS.PowerShell.Tests;

/// <summary>How files reach Get-GgufInfo: strings, FileInfo, PSPath, wildcards, literal names, many at once.</summary>
public sealed class GetGgufInfoPipelineTests : IClassFixture<PowerShellSession>
{
    private readonly PowerShellSession _session;
    private readonly string _folder;

    public GetGgufInfoPipelineTests(PowerShellSession session)
    {
        _session = session;
        _folder = Path.Combine(session.TempFolder, "pipeline");
        if (!Directory.Exists(_folder))
        {
            Directory.CreateDirectory(Path.Combine(_folder, "sub.gguf")); // a folder a wildcard can match
            ModelFiles.WriteTiny(Path.Combine(_folder, "a.gguf"), name: "a");
            ModelFiles.WriteTiny(Path.Combine(_folder, "b.gguf"), name: "b");
            ModelFiles.WriteTiny(Path.Combine(_folder, "model[1].gguf"), name: "bracketed");
            ModelFiles.WriteBadMagic(Path.Combine(_folder, "bad.bin"));
        }
    }

    private string In(string name) => Path.Combine(_folder, name);

    [Fact]
    public void Strings_bind_by_value()
    {
        var result = _session.Run("$Paths | Get-GgufInfo", ("Paths", new[] { In("a.gguf"), In("b.gguf") }));

        Assert.Empty(result.Errors);
        Assert.Equal(["a", "b"], result.Objects<GgufModelInfo>().Select(i => i.Name));
    }

    [Fact]
    public void Several_paths_in_one_argument_each_give_a_model()
    {
        var result = _session.Run("Get-GgufInfo $A, $B", ("A", In("a.gguf")), ("B", In("b.gguf")));

        Assert.Equal(2, result.Objects<GgufModelInfo>().Count);
    }

    [Fact]
    public void FileInfo_objects_bind()
    {
        var result = _session.Run(
            "[System.IO.FileInfo]::new($A), [System.IO.FileInfo]::new($B) | Get-GgufInfo",
            ("A", In("a.gguf")), ("B", In("b.gguf")));

        Assert.Empty(result.Errors);
        Assert.Equal(["a", "b"], result.Objects<GgufModelInfo>().Select(i => i.Name));
    }

    [Fact]
    public void FileInfo_with_provider_PSPath_binds_to_LiteralPath()
    {
        // Get-ChildItem's FileInfo carries PSPath; a bracket in the name shows it was not taken as a wildcard.
        var result = _session.Run(
            """
            $file = [System.IO.FileInfo]::new($Model)
            $file.PSObject.Properties.Add([psnoteproperty]::new('PSPath', "Microsoft.PowerShell.Core\FileSystem::$Model"))
            $file | Get-GgufInfo
            """,
            ("Model", In("model[1].gguf")));

        Assert.Equal("bracketed", result.Single<GgufModelInfo>().Name);
    }

    [Fact]
    public void Objects_with_a_PSPath_property_bind()
    {
        var result = _session.Run("[pscustomobject]@{ PSPath = $Model } | Get-GgufInfo", ("Model", In("a.gguf")));

        Assert.Equal("a", result.Single<GgufModelInfo>().Name);
    }

    [Fact]
    public void Objects_with_a_Path_property_bind_so_summaries_pipe_into_Test_Gguf()
    {
        var result = _session.Run("Get-GgufInfo $Model | Test-Gguf -Quiet", ("Model", In("a.gguf")));

        Assert.True(result.Single<bool>());
    }

    [Fact]
    public void Wildcards_expand_to_the_matching_files_and_skip_folders()
    {
        var result = _session.Run("Get-GgufInfo -Path ([System.IO.Path]::Combine($Folder, '?.gguf')), ([System.IO.Path]::Combine($Folder, 's*'))", ("Folder", _folder));

        // '?.gguf' matches a and b; 's*' matches only the folder sub.gguf, so nothing matches there.
        Assert.Equal(["a", "b"], result.Objects<GgufModelInfo>().Select(i => i.Name).Order());
        var error = Assert.Single(result.Errors);
        Assert.StartsWith("GgufFileNotFound,", error.FullyQualifiedErrorId);
    }

    [Fact]
    public void Wildcard_matching_nothing_is_a_non_terminating_error()
    {
        var result = _session.Run("Get-GgufInfo ([System.IO.Path]::Combine($Folder, 'none*.gguf')), $A", ("Folder", _folder), ("A", In("a.gguf")));

        var error = Assert.Single(result.Errors);
        Assert.StartsWith("GgufFileNotFound,", error.FullyQualifiedErrorId);
        Assert.Equal(ErrorCategory.ObjectNotFound, error.CategoryInfo.Category);
        Assert.Equal("a", Assert.Single(result.Objects<GgufModelInfo>()).Name);
    }

    [Fact]
    public void LiteralPath_takes_brackets_literally()
    {
        var path = In("model[1].gguf");

        var literal = _session.Run("Get-GgufInfo -LiteralPath $Model", ("Model", path));
        var wildcard = _session.Run("Get-GgufInfo -Path $Model", ("Model", path));

        var info = literal.Single<GgufModelInfo>();
        Assert.Equal("bracketed", info.Name);
        Assert.EndsWith("model[1].gguf", info.Path);
        Assert.Empty(wildcard.Output); // [1] is a character class: it matches model1.gguf, which is not there
        var error = Assert.Single(wildcard.Errors);
        Assert.StartsWith("GgufFileNotFound,", error.FullyQualifiedErrorId);
        Assert.Contains("-LiteralPath", error.Exception.Message);
    }

    [Fact]
    public void Relative_paths_resolve_against_the_current_location()
    {
        var result = _session.Run("""
            $paths = $ExecutionContext.SessionState.Path
            $previous = $paths.CurrentLocation
            $null = $paths.SetLocation($Folder)
            try { Get-GgufInfo ./a.gguf } finally { $null = $paths.SetLocation($previous.Path) }
            """, ("Folder", _folder));

        Assert.Equal(In("a.gguf"), result.Single<GgufModelInfo>().Path);
    }

    [Fact]
    public void One_bad_file_among_many_is_a_non_terminating_error_and_the_rest_are_read()
    {
        var result = _session.Run(
            "$A, $Bad, $Missing, $B | Get-GgufInfo",
            ("A", In("a.gguf")), ("Bad", In("bad.bin")), ("Missing", In("missing.gguf")), ("B", In("b.gguf")));

        Assert.Equal(["a", "b"], result.Objects<GgufModelInfo>().Select(i => i.Name));
        Assert.Equal(2, result.Errors.Count);
        Assert.StartsWith("GgufInvalidMagic,", result.Errors[0].FullyQualifiedErrorId);
        Assert.Equal(In("bad.bin"), result.Errors[0].TargetObject);
        Assert.StartsWith("GgufFileNotFound,", result.Errors[1].FullyQualifiedErrorId);
        Assert.Equal(In("missing.gguf"), result.Errors[1].TargetObject);
    }

    [Fact]
    public void ErrorAction_Stop_makes_the_first_bad_file_terminating()
    {
        var result = _session.Run(
            "try { $Bad, $A | Get-GgufInfo -ErrorAction Stop } catch { $_ }",
            ("A", In("a.gguf")), ("Bad", In("bad.bin")));

        var error = result.Single<ErrorRecord>();
        Assert.StartsWith("GgufInvalidMagic,", error.FullyQualifiedErrorId);
    }

    [Fact]
    public void A_split_model_is_reported_once_whichever_shards_are_piped()
    {
        var folder = Path.Combine(_session.TempFolder, "split");
        Directory.CreateDirectory(folder);
        var shards = ModelFiles.WriteSplit(folder, "two");

        var result = _session.Run("Get-GgufInfo ([System.IO.Path]::Combine($Folder, 'two-*.gguf'))", ("Folder", folder));

        var info = result.Single<GgufModelInfo>();
        Assert.Equal(2, info.ShardCount);
        Assert.Equal(2, info.TensorCount);
        Assert.Equal(shards[0], info.Path);
    }

    [Fact]
    public void A_split_model_with_a_missing_shard_is_GgufSplitIncomplete()
    {
        var folder = Path.Combine(_session.TempFolder, "split-missing");
        Directory.CreateDirectory(folder);
        var shards = ModelFiles.WriteSplit(folder, "half");
        File.Delete(shards[1]);

        var result = _session.Run("Get-GgufInfo -LiteralPath $Shard", ("Shard", shards[0]));

        var error = Assert.Single(result.Errors);
        Assert.StartsWith("GgufSplitIncomplete,", error.FullyQualifiedErrorId);
        Assert.Equal(ErrorCategory.ObjectNotFound, error.CategoryInfo.Category);
    }

    [Fact]
    public void A_folder_given_literally_is_an_invalid_argument()
    {
        var result = _session.Run("Get-GgufInfo -LiteralPath $Folder", ("Folder", _folder));

        var error = Assert.Single(result.Errors);
        Assert.StartsWith("GgufInvalidArgument,", error.FullyQualifiedErrorId);
        Assert.Equal(ErrorCategory.InvalidArgument, error.CategoryInfo.Category);
        Assert.Empty(result.Output);
    }

    [Fact]
    public void A_path_on_another_provider_is_refused()
    {
        var result = _session.Run("Get-GgufInfo -LiteralPath Env:PATH");

        var error = Assert.Single(result.Errors);
        Assert.StartsWith("GgufInvalidArgument,", error.FullyQualifiedErrorId);
    }

    [Fact]
    public void A_url_given_as_a_path_points_to_Uri()
    {
        var result = _session.Run("Get-GgufInfo 'https://example.invalid/model.gguf'");

        var error = Assert.Single(result.Errors);
        Assert.Contains("-Uri", error.Exception.Message);
    }

    [Fact]
    public void A_relative_Uri_is_an_invalid_argument()
    {
        var result = _session.Run("Get-GgufInfo -Uri ([uri]::new('model.gguf', [System.UriKind]::Relative))");

        Assert.StartsWith("GgufInvalidArgument,", Assert.Single(result.Errors).FullyQualifiedErrorId);
    }
}
