using System.Management.Automation;
using System.Security.Cryptography;
using QuantPS.Gguf;
using QuantPS.Quantization.Job;
using QuantPS.TestSupport;

namespace QuantPS.PowerShell.Tests;

/// <summary>ConvertTo-Quantized in a hosted session: llama-quantize's bytes, -WhatIf, refusals with ErrorIds, Ctrl+C.</summary>
public sealed class ConvertToQuantizedTests(PowerShellSession session) : IClassFixture<PowerShellSession>
{
    private const string Command = "QuantPS.PowerShell.ConvertToQuantizedCommand";

    /// <summary>A fresh folder holding a copy of stories260K.gguf.</summary>
    private string CopyStories(out string folder)
    {
        folder = session.TempPath("q-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(folder);
        var copy = Path.Combine(folder, "stories260K.gguf");
        File.Copy(ModelFiles.Stories, copy);
        return copy;
    }

    private static string Sha(string path) => Convert.ToHexString(SHA256.HashData(File.ReadAllBytes(path))).ToLowerInvariant();

    private static string GoldenSha(string output) =>
        File.ReadAllLines(SharedData.File("golden/quantized/MANIFEST.tsv")).Select(l => l.Split('\t')).Single(f => f[1] == output)[3];

    [Fact]
    public void Pipeline_writes_stem_type_gguf_beside_each_input_with_llama_quantize_bytes()
    {
        var model = CopyStories(out var folder);

        var result = session.Run("[System.IO.DirectoryInfo]::new($Folder).GetFiles('*.gguf') | ConvertTo-Quantized -Type Q4_K_M", ("Folder", folder));

        Assert.Empty(result.Errors);
        Assert.Empty(result.Output);
        var written = Path.Combine(folder, "stories260K-Q4_K_M.gguf");
        Assert.Equal(GoldenSha("stories260K-Q4_K_M.gguf"), Sha(written));
        Assert.Equal(2, Directory.GetFiles(folder).Length); // no temporary file left beside it
        Assert.True(File.Exists(model));
    }

    [Fact]
    public void Get_ChildItem_output_binds_by_PSPath()
    {
        var model = CopyStories(out var folder);

        // What Get-ChildItem emits: a FileInfo carrying PSPath (Get-ChildItem itself is not in this Core-only session).
        var result = session.Run(
            "$f = [psobject]::AsPSObject([System.IO.FileInfo]::new($Model)); $f.PSObject.Properties.Add([psnoteproperty]::new('PSPath', 'Microsoft.PowerShell.Core\\FileSystem::' + $Model)); $f | ConvertTo-Quantized -Type Q6_K -PassThru",
            ("Model", model));

        Assert.Empty(result.Errors);
        Assert.Equal(Path.Combine(folder, "stories260K-Q6_K.gguf"), result.Single<GgufModelInfo>().Path);
        Assert.Equal(GoldenSha("stories260K-Q6_K.gguf"), Sha(Path.Combine(folder, "stories260K-Q6_K.gguf")));
    }

    [Fact]
    public void WhatIf_returns_the_plan_with_the_exact_size_and_writes_nothing()
    {
        var model = CopyStories(out var folder);

        var result = session.Run("ConvertTo-Quantized $Model -Type Q5_K_S -WhatIf", ("Model", model));

        Assert.Empty(result.Errors);
        var plan = result.Single<QuantizePlan>();
        Assert.Equal(Path.Combine(folder, "stories260K-Q5_K_S.gguf"), ScriptResult.Note(result.Output[0], "OutputPath"));
        Assert.Single(Directory.GetFiles(folder));
        Assert.Equal(48, plan.Tensors.Count);

        var run = session.Run("ConvertTo-Quantized $Model -Type Q5_K_S -PassThru", ("Model", model));
        Assert.Empty(run.Errors);
        var info = run.Single<GgufModelInfo>();
        Assert.Equal(plan.PredictedSize, new FileInfo(Path.Combine(folder, "stories260K-Q5_K_S.gguf")).Length);
        Assert.Equal("Q5_K_S", info.FileType);
    }

    [Fact]
    public void Existing_output_is_replaced_only_with_Force_and_input_is_never_the_output()
    {
        var model = CopyStories(out var folder);
        var target = Path.Combine(folder, "out.gguf");
        File.WriteAllText(target, "keep");

        var refused = session.Run("ConvertTo-Quantized $Model -Type F16 -OutFile $Out", ("Model", model), ("Out", target));
        Assert.Equal("GgufOutputExists," + Command, Assert.Single(refused.Errors).FullyQualifiedErrorId);
        Assert.Equal("keep", File.ReadAllText(target));

        var forced = session.Run("ConvertTo-Quantized $Model -Type F16 -OutFile $Out -Force", ("Model", model), ("Out", target));
        Assert.Empty(forced.Errors);
        Assert.Equal(GoldenSha("stories260K-F16.gguf"), Sha(target));

        var same = session.Run("ConvertTo-Quantized $Model -Type F16 -OutFile $Model -Force", ("Model", model));
        Assert.Equal("QuantizeOutputIsInput," + Command, Assert.Single(same.Errors).FullyQualifiedErrorId);
        Assert.Equal(new FileInfo(ModelFiles.Stories).Length, new FileInfo(model).Length);
    }

    [Fact]
    public void Bad_type_name_is_a_terminating_error_with_the_valid_names()
    {
        var model = CopyStories(out _);

        var result = session.Run("try { ConvertTo-Quantized $Model -Type Q4_K_X } catch { $_ }", ("Model", model));

        var record = Assert.IsType<ErrorRecord>(result.Output.Single().BaseObject);
        Assert.Equal("QuantizeUnknownType," + Command, record.FullyQualifiedErrorId);
        Assert.Contains("Q4_K_M", record.Exception.Message);
    }

    [Fact]
    public void Refusals_carry_stable_ErrorIds()
    {
        var model = CopyStories(out var folder);
        var synth = SharedData.File("golden/models/synth-256.gguf");
        var q8 = SharedData.File("golden/quantized/stories260K/stories260K-Q8_0-ffn_down-f16.gguf");

        var noFallback = session.Run("ConvertTo-Quantized $Model -Type Q8_0", ("Model", model));
        var error = Assert.Single(noFallback.Errors);
        Assert.Equal("QuantizeNoTypeFallback," + Command, error.FullyQualifiedErrorId);
        Assert.Contains("blk.0.ffn_down.weight", error.Exception.Message);
        Assert.Contains("-TensorType", error.Exception.Message);

        var imatrix = session.Run("ConvertTo-Quantized $Synth -Type IQ2_XS -OutFile $Out", ("Synth", synth), ("Out", Path.Combine(folder, "iq.gguf")));
        Assert.Equal("QuantizationImportanceRequired," + Command, Assert.Single(imatrix.Errors).FullyQualifiedErrorId);

        var dryRun = session.Run("ConvertTo-Quantized $Synth -Type IQ2_XS -OutFile $Out -WhatIf 3>$null", ("Synth", synth), ("Out", Path.Combine(folder, "iq.gguf")));
        Assert.Empty(dryRun.Errors); // -WhatIf plans like --dry-run: the missing imatrix is only a warning
        Assert.NotNull(dryRun.Single<QuantizePlan>().MissingImportance);

        var requant = session.Run("ConvertTo-Quantized $Q8 -Type Q4_K_M -OutFile $Out", ("Q8", q8), ("Out", Path.Combine(folder, "r.gguf")));
        Assert.Equal("QuantizeRequantizeDisabled," + Command, Assert.Single(requant.Errors).FullyQualifiedErrorId);
        Assert.Single(Directory.GetFiles(folder));
    }

    [Fact]
    public void Read_only_target_is_refused()
    {
        var model = CopyStories(out var folder);
        var target = Path.Combine(folder, "ro.gguf");
        File.WriteAllText(target, "old");
        File.SetAttributes(target, FileAttributes.ReadOnly);
        try
        {
            var result = session.Run("ConvertTo-Quantized $Model -Type F16 -OutFile $Out -Force", ("Model", model), ("Out", target));
            var error = Assert.Single(result.Errors);
            Assert.Equal("QuantizeOutputNotWritable," + Command, error.FullyQualifiedErrorId);
            Assert.Equal(ErrorCategory.PermissionDenied, error.CategoryInfo.Category);
            Assert.Equal("old", File.ReadAllText(target));
        }
        finally
        {
            File.SetAttributes(target, FileAttributes.Normal);
        }
    }

    [Fact]
    public void Options_reproduce_llama_quantize_runs()
    {
        var model = CopyStories(out var folder);
        var q8 = SharedData.File("golden/quantized/stories260K/stories260K-Q8_0-ffn_down-f16.gguf");
        var golden = Path.GetDirectoryName(Path.GetDirectoryName(SharedData.File("golden/quantized/MANIFEST.tsv")))!;
        var runs = new (string Script, string Output)[]
        {
            ("ConvertTo-Quantized $Model -Type Q8_0 -TensorType @{ffn_down='f16'} -OutFile $Out", "stories260K-Q8_0-ffn_down-f16.gguf"),
            ("ConvertTo-Quantized $Model -Type Q4_K_M -TensorType ([ordered]@{attn_v='q8_0'; ffn_down='q5_k'}) -OutFile $Out", "stories260K-Q4_K_M-attn_v-q8_0-ffn_down-q5_k.gguf"),
            ("ConvertTo-Quantized $Model -Type Q4_K_M -OutputTensorType q8_0 -TokenEmbeddingType q8_0 -OutFile $Out", "stories260K-Q4_K_M-out-q8_0-embd-q8_0.gguf"),
            ("ConvertTo-Quantized $Model -Type Q4_K_M -Pure -OutFile $Out", "stories260K-Q4_K_M-pure.gguf"),
            ("ConvertTo-Quantized $Model -Type Q4_K_M -LeaveOutputTensor -OutFile $Out", "stories260K-Q4_K_M-leave-output.gguf"),
            ("ConvertTo-Quantized -LiteralPath $Q8 -Type Q4_K_M -AllowRequantize -OutFile $Out", "stories260K-Q4_K_M-requant-from-Q8_0-ffn_down-f16.gguf"),
            // llama-quantize ran in golden/ with a relative path, which it records as given.
            ("$here = $PWD.Path; $null = $ExecutionContext.SessionState.Path.SetLocation($Golden); try { ConvertTo-Quantized $Model -Type Q4_K_M -ImportanceMatrix imatrix/stories260K.imatrix.gguf -Threads 3 -OutFile $Out } finally { $null = $ExecutionContext.SessionState.Path.SetLocation($here) }", "stories260K-Q4_K_M-imatrix.gguf"),
        };

        foreach (var (script, output) in runs)
        {
            var target = Path.Combine(folder, output);
            var result = session.Run(script, ("Model", model), ("Q8", q8), ("Out", target), ("Golden", golden));
            Assert.True(result.Errors.Count == 0, output + ": " + string.Join("; ", result.Errors));
            Assert.True(GoldenSha(output) == Sha(target), output + " differs from llama-quantize's");
        }
    }

    [Fact]
    public void Type_completes_on_tab()
    {
        var result = session.Run("(TabExpansion2 -inputScript 'ConvertTo-Quantized x.gguf -Type Q4_K_' -cursorColumn 37).CompletionMatches.CompletionText");

        Assert.Empty(result.Errors);
        Assert.Equal(["Q4_K_S", "Q4_K_M"], result.Output.Select(o => (string)o.BaseObject));
    }

    [Fact]
    public void Stopping_leaves_no_partial_or_temporary_file()
    {
        var synth = SharedData.File("golden/models/synth-256.gguf");
        var folder = session.TempPath("stop-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(folder);
        using var shell = session.Start($"ConvertTo-Quantized -LiteralPath '{synth}' -Type Q6_K -Threads 1 -OutFile '{Path.Combine(folder, "s.gguf")}'", out var running);
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (Directory.GetFiles(folder).Length == 0 && !running.IsCompleted && DateTime.UtcNow < deadline)
        {
            Thread.Sleep(1);
        }

        shell.Stop();
        try
        {
            shell.EndInvoke(running);
        }
        catch (PipelineStoppedException)
        {
            // expected
        }

        Assert.Empty(Directory.GetFiles(folder));
    }

    [Fact]
    public void Help_has_synopsis_parameters_and_examples()
    {
        var help = session.Help("ConvertTo-Quantized");
        Assert.DoesNotContain("ConvertTo-Quantized ", help.Synopsis);
        Assert.True(help.ExampleCount >= 3);
        var parameters = help.Parameters;
        foreach (var name in new[] { "Path", "Type", "OutFile", "ImportanceMatrix", "TensorType", "WhatIf", "Force", "PassThru" })
        {
            Assert.Contains(name, parameters);
        }
    }
}
