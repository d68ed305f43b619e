using System.Collections;
using System.Management.Automation;
using Microsoft.PowerShell.Commands;
using QuantPS.Gguf;
using QuantPS.Quantization;
using QuantPS.Quantization.Job;

namespace QuantPS.PowerShell;

/// <summary>
/// ConvertTo-Quantized: llama-quantize as a cmdlet. Writes files byte-identical to llama-quantize's,
/// atomically (a failure or Ctrl+C leaves nothing); -WhatIf returns the plan with the exact size.
/// </summary>
[Cmdlet(VerbsData.ConvertTo, "Quantized", DefaultParameterSetName = PathSet, SupportsShouldProcess = true)]
[OutputType(typeof(GgufModelInfo), typeof(QuantizePlan))]
public sealed class ConvertToQuantizedCommand : PSCmdlet, IDisposable
{
    private const string PathSet = "Path";
    private const string LiteralPathSet = "LiteralPath";

    private readonly CancellationTokenSource _stopping = new();
    // Shards of split models already quantized in this pipeline: `*.gguf` matches every shard of one model.
    private readonly HashSet<string> _done = new(OperatingSystem.IsLinux() ? StringComparer.Ordinal : StringComparer.OrdinalIgnoreCase);
    private QuantizeFileType _type = null!;
    private QuantizeOptions _options = null!;

    /// <summary>Models to quantize; wildcards are expanded. (Files from Get-ChildItem bind to -LiteralPath by PSPath.)</summary>
    [Parameter(Mandatory = true, Position = 0, ParameterSetName = PathSet, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
    [ValidateNotNullOrEmpty]
    [SupportsWildcards]
    public string[] Path { get; set; } = [];

    /// <summary>Models taken exactly as written.</summary>
    [Parameter(Mandatory = true, ParameterSetName = LiteralPathSet, ValueFromPipelineByPropertyName = true)]
    [Alias("PSPath", "LP")]
    [ValidateNotNullOrEmpty]
    public string[] LiteralPath { get; set; } = [];

    /// <summary>llama-quantize's type name (Q4_K_M, Q8_0, IQ4_XS, COPY ...). Tab completes.</summary>
    [Parameter(Mandatory = true, Position = 1)]
    [ArgumentCompleter(typeof(QuantizeTypeCompleter))]
    [ValidateNotNullOrEmpty]
    public string Type { get; set; } = string.Empty;

    /// <summary>The output file, or a folder for it. Default: &lt;stem&gt;-&lt;Type&gt;.gguf beside the input.</summary>
    [Parameter(Position = 2)]
    [Alias("OutputPath")]
    public string? OutFile { get; set; }

    /// <summary>An importance matrix (llama-imatrix .gguf or legacy .dat); its path is recorded as given.</summary>
    [Parameter]
    [Alias("Imatrix")]
    public string? ImportanceMatrix { get; set; }

    /// <summary>Use only the imatrix entries whose names contain one of these.</summary>
    [Parameter]
    public string[]? IncludeWeights { get; set; }

    /// <summary>Ignore the imatrix entries whose names contain one of these.</summary>
    [Parameter]
    public string[]? ExcludeWeights { get; set; }

    [Parameter]
    public SwitchParameter Pure { get; set; }

    [Parameter]
    public SwitchParameter LeaveOutputTensor { get; set; }

    [Parameter]
    [ArgumentCompleter(typeof(GgmlTypeCompleter))]
    public string? OutputTensorType { get; set; }

    [Parameter]
    [ArgumentCompleter(typeof(GgmlTypeCompleter))]
    public string? TokenEmbeddingType { get; set; }

    /// <summary>Pattern → type, as --tensor-type: @{'attn_v'='q8_0'}. Use [ordered]@{} when patterns overlap (the first match wins).</summary>
    [Parameter]
    public IDictionary? TensorType { get; set; }

    /// <summary>Metadata to set in the output, as --override-kv: @{'general.name'='tiny'}.</summary>
    [Parameter]
    public IDictionary? OverrideMetadata { get; set; }

    [Parameter]
    public SwitchParameter AllowRequantize { get; set; }

    /// <summary>Write a split model as the same number of shards (&lt;name&gt;-00001-of-0000N.gguf), as --keep-split.</summary>
    [Parameter]
    public SwitchParameter KeepSplit { get; set; }

    /// <summary>Layers (blk.N) to leave out; the rest are renumbered and block_count adjusted, as --prune-layers.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    [ValidateRange(0, int.MaxValue)]
    public int[]? PruneLayers { get; set; }

    /// <summary>Worker threads; default all cores. The output does not depend on it.</summary>
    [Parameter]
    [ValidateRange(0, 4096)]
    public int Threads { get; set; }

    /// <summary>Replace an existing output file.</summary>
    [Parameter]
    public SwitchParameter Force { get; set; }

    /// <summary>Return the written file's Get-GgufInfo object.</summary>
    [Parameter]
    public SwitchParameter PassThru { get; set; }

    protected override void BeginProcessing()
    {
        try
        {
            _type = QuantizeFileType.Parse(Type);
            ImportanceMatrix? matrix = null;
            if (!string.IsNullOrEmpty(ImportanceMatrix))
            {
                var resolved = SessionState.Path.GetUnresolvedProviderPathFromPSPath(ImportanceMatrix);
                WriteVerbose($"Loading the importance matrix {resolved}");
                matrix = Quantization.ImportanceMatrix.Load(resolved);
            }

            _options = new QuantizeOptions
            {
                Pure = Pure,
                LeaveOutputTensor = LeaveOutputTensor,
                OutputTensorType = OutputTensorType is null ? null : QuantizeCmdletSupport.ParseTensorType(OutputTensorType, nameof(OutputTensorType)),
                TokenEmbeddingType = TokenEmbeddingType is null ? null : QuantizeCmdletSupport.ParseTensorType(TokenEmbeddingType, nameof(TokenEmbeddingType)),
                TensorTypes = QuantizeCmdletSupport.TensorTypes(TensorType),
                OverrideMetadata = QuantizeCmdletSupport.Metadata(OverrideMetadata),
                ImportanceMatrix = matrix,
                ImportanceMatrixPath = ImportanceMatrix, // recorded as the user wrote it, like llama-quantize
                IncludeWeights = IncludeWeights ?? [],
                ExcludeWeights = ExcludeWeights ?? [],
                AllowRequantize = AllowRequantize,
                KeepSplit = KeepSplit,
                PruneLayers = PruneLayers ?? [],
                Threads = Threads,
            };
        }
        catch (QuantizationException e)
        {
            ThrowTerminatingError(QuantizeCmdletSupport.Error(e, Type));
        }
    }

    protected override void ProcessRecord()
    {
        var literal = ParameterSetName == LiteralPathSet;
        foreach (var input in literal ? LiteralPath : Path)
        {
            foreach (var file in Resolve(input, literal))
            {
                if (_stopping.IsCancellationRequested) return;
                Quantize(file);
            }
        }
    }

    protected override void StopProcessing()
    {
        try
        {
            _stopping.Cancel();
        }
        catch (ObjectDisposedException)
        {
            // Already finished.
        }
    }

    public void Dispose()
    {
        _stopping.Dispose();
        GC.SuppressFinalize(this);
    }

    private void Quantize(string input)
    {
        GgufModel? model = null;
        string output = input;
        try
        {
            if (_done.Contains(System.IO.Path.GetFullPath(input)))
            {
                WriteVerbose($"Skipping {input}: it is a shard of a split model already quantized.");
                return;
            }

            output = OutputFor(input);
            if (string.Equals(System.IO.Path.GetFullPath(output), System.IO.Path.GetFullPath(input),
                    OperatingSystem.IsLinux() ? StringComparison.Ordinal : StringComparison.OrdinalIgnoreCase))
            {
                throw new QuantizationException(QuantizeErrorIds.SameFile, $"input and output files are the same: '{input}'. Choose another -OutFile.");
            }

            model = GgufModel.Open(input);
            foreach (var shard in model.Shards) _done.Add(System.IO.Path.GetFullPath(shard.Location));
            // -WhatIf plans like llama-quantize --dry-run: a missing imatrix is a warning, not an error.
            var whatIf = MyInvocation.BoundParameters.TryGetValue("WhatIf", out var w) && ((SwitchParameter)w).IsPresent;
            var plan = QuantizePlan.Create(model, _type, whatIf ? _options with { DryRun = true } : _options);
            if (plan.MissingImportance is not null)
            {
                WriteWarning(plan.MissingImportance);
            }

            var outputs = plan.OutputPathsFor(output);
            var files = outputs.Count == 1 ? output : $"{outputs[0]} ... ({outputs.Count} files)";
            var action = $"Quantize {input} to {_type.Name}: {plan.Tensors.Count} tensors, {plan.Tensors.Count(t => t.IsConverted)} converted, {ViewFormat.BytesExact(plan.PredictedSize)}";
            if (!ShouldProcess(action, $"Write {files} ({_type.Name}, {ViewFormat.Bytes(plan.PredictedSize)})?", "ConvertTo-Quantized", out var reason))
            {
                if (reason == ShouldProcessReason.WhatIf)
                {
                    var shown = PSObject.AsPSObject(plan);
                    shown.Properties.Add(new PSNoteProperty("OutputPath", outputs[0]));
                    shown.Properties.Add(new PSNoteProperty("OutputPaths", outputs.ToArray()));
                    WriteObject(shown);
                }

                return;
            }

            foreach (var file in outputs)
            {
                if (File.Exists(file) && !Force)
                {
                    throw new GgufException(GgufErrorKind.OutputExists, $"{file} already exists. Use -Force to replace it, or choose another -OutFile.", file);
                }

                if (File.Exists(file) && File.GetAttributes(file).HasFlag(FileAttributes.ReadOnly))
                {
                    WriteError(QuantizeCmdletSupport.NotWritable(file, "the file is read-only. Clear its read-only attribute or choose another -OutFile."));
                    return;
                }
            }

            var activity = $"Quantizing {System.IO.Path.GetFileName(input)} to {_type.Name}";
            int lastPercent = -1;
            var result = QuantizeJob.Run(model, plan, output, Force, p =>
            {
                int percent = p.BytesTotal == 0 ? 100 : (int)(p.BytesDone * 100 / p.BytesTotal);
                if (percent == lastPercent && p.CurrentTensor is not null) return;
                lastPercent = percent;
                WriteProgress(new ProgressRecord(1, activity, $"{p.TensorsDone}/{p.TensorCount} tensors, {ViewFormat.Bytes(p.BytesDone)} of {ViewFormat.Bytes(p.BytesTotal)}")
                {
                    PercentComplete = percent,
                    CurrentOperation = p.CurrentTensor ?? string.Empty,
                });
            }, _stopping.Token);
            WriteProgress(new ProgressRecord(1, activity, "Done") { RecordType = ProgressRecordType.Completed });
            if (plan.FallbackCount > 0)
            {
                WriteVerbose($"{plan.FallbackCount} of {plan.Tensors.Count} tensor(s) required fallback quantization.");
            }

            WriteVerbose($"Wrote {string.Join(", ", result.OutputPaths)} ({ViewFormat.BytesExact(result.SizeBytes)}) in {result.Elapsed.TotalSeconds:0.00} s.");
            if (PassThru)
            {
                model.Dispose();
                model = null;
                using var written = GgufModel.Open(result.OutputPath);
                WriteObject(GgufModelInfo.From(written));
            }
        }
        catch (OperationCanceledException) when (_stopping.IsCancellationRequested)
        {
            // Ctrl+C: the job removed its temporary file; PowerShell reports the stop.
        }
        catch (QuantizationException e)
        {
            WriteError(QuantizeCmdletSupport.Error(e, input));
        }
        catch (GgufException e) when (e.Kind == GgufErrorKind.IoError && !string.Equals(e.Path, input, StringComparison.Ordinal))
        {
            WriteError(QuantizeCmdletSupport.NotWritable(output, e.Message, e));
        }
        catch (GgufException e)
        {
            WriteError(GgufErrors.From(e, input));
        }
        catch (UnauthorizedAccessException e)
        {
            WriteError(QuantizeCmdletSupport.NotWritable(output, e.Message, e));
        }
        catch (IOException e)
        {
            WriteError(GgufErrors.FromUnexpected(e, input));
        }
        finally
        {
            model?.Dispose();
        }
    }

    /// <summary>
    /// -OutFile as a file, as a folder, or &lt;stem&gt;-&lt;Type&gt;.gguf beside the input (the stem of a
    /// shard is its model's: model-00001-of-00003.gguf gives model-Q4_K_M.gguf).
    /// </summary>
    private string OutputFor(string input)
    {
        var stem = GgufSplit.TryParseShardName(input, out var prefix, out _, out _)
            ? System.IO.Path.GetFileName(prefix)
            : System.IO.Path.GetFileNameWithoutExtension(input);
        var name = stem + "-" + _type.Name + ".gguf";
        if (string.IsNullOrEmpty(OutFile))
        {
            return System.IO.Path.Combine(System.IO.Path.GetDirectoryName(input)!, name);
        }

        var resolved = SessionState.Path.GetUnresolvedProviderPathFromPSPath(OutFile);
        return Directory.Exists(resolved) ? System.IO.Path.Combine(resolved, name) : resolved;
    }

    private IEnumerable<string> Resolve(string input, bool literal)
    {
        try
        {
            if (literal || !WildcardPattern.ContainsWildcardCharacters(input))
            {
                var path = SessionState.Path.GetUnresolvedProviderPathFromPSPath(input, out var provider, out _);
                if (provider.ImplementingType != typeof(FileSystemProvider) || Directory.Exists(path))
                {
                    WriteError(GgufErrors.Create(GgufErrorKind.InvalidArgument, $"'{input}' is not a GGUF file on the file system.", input));
                    return [];
                }

                return [path];
            }

            var matches = SessionState.Path.GetResolvedProviderPathFromPSPath(input, out _).Where(File.Exists).ToList();
            if (matches.Count == 0)
            {
                WriteError(GgufErrors.Create(GgufErrorKind.FileNotFound, $"No file matches '{input}'.", input));
            }

            return matches;
        }
        catch (Exception e) when (e is SessionStateException or NotSupportedException or ArgumentException)
        {
            WriteError(GgufErrors.Create(GgufErrorKind.FileNotFound, $"Cannot find '{input}': {e.Message}", input, e));
            return [];
        }
    }
}
