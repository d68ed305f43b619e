# Shared by the Pester tests (dot-source it): the module under test, ../shared, and GGUF files
# made on the fly with the engine's own writer, as a user's script could.

function Get-QuantPSRepoRoot {
    (Resolve-Path -LiteralPath (Join-Path $PSScriptRoot '../..')).ProviderPath
}

function Import-QuantPSModule {
    $manifest = Join-Path (Get-QuantPSRepoRoot) 'out/QuantPS/QuantPS.psd1'
    if (-not (Test-Path -LiteralPath $manifest)) {
        throw "$manifest is missing: build first (./build.ps1 or dotnet build -c Release)."
    }

    Import-Module $manifest -Force -ErrorAction Stop
}

# The full path of a file under ../shared (or $env:QUANTPS_SHARED), or $null when it is absent.
# Under QUANTPS_REQUIRE_SHARED=1 (CI) a missing file is a failure, not a skip.
function Find-SharedFile {
    param([Parameter(Mandatory)] [string] $RelativePath)

    $root = if ($env:QUANTPS_SHARED) { $env:QUANTPS_SHARED } else { Join-Path (Get-QuantPSRepoRoot) '../shared' }
    $path = Join-Path $root $RelativePath
    if (Test-Path -LiteralPath $path -PathType Leaf) {
        return (Resolve-Path -LiteralPath $path).ProviderPath
    }

    if ($env:QUANTPS_REQUIRE_SHARED -eq '1') {
        throw "QUANTPS_REQUIRE_SHARED=1 but $path is missing."
    }

    Write-Warning "Skipping tests that need $RelativePath : ../shared is not beside this clone (set QUANTPS_SHARED to its path)."
    return $null
}

# A valid llama-shaped model: 2 F32 tensors (64 x 16 and 64) and a 1000-token vocabulary.
function New-TinyGguf {
    param(
        [Parameter(Mandatory)] [string] $Path,
        [string] $Name = 'tiny'
    )

    $tokens = [string[]](0..999 | ForEach-Object { "tok$_" })
    $metadata = [QuantPS.Gguf.GgufMetadataEntry[]]@(
        [QuantPS.Gguf.GgufMetadataEntry]::Of('general.architecture', 'llama')
        [QuantPS.Gguf.GgufMetadataEntry]::Of('general.name', $Name)
        [QuantPS.Gguf.GgufMetadataEntry]::Of('llama.context_length', [uint32]128)
        [QuantPS.Gguf.GgufMetadataEntry]::Of('llama.embedding_length', [uint32]64)
        [QuantPS.Gguf.GgufMetadataEntry]::Of('llama.block_count', [uint32]1)
        [QuantPS.Gguf.GgufMetadataEntry]::Of('llama.attention.head_count', [uint32]4)
        [QuantPS.Gguf.GgufMetadataEntry]::Of('tokenizer.ggml.model', 'llama')
        [QuantPS.Gguf.GgufMetadataEntry]::Of('tokenizer.ggml.tokens', [QuantPS.Gguf.GgufArray]::new([QuantPS.Gguf.GgufValueType]::String, $tokens))
    )
    $tensors = [QuantPS.Gguf.GgufTensorSpec[]]@(
        [QuantPS.Gguf.GgufTensorSpec]::new('token_embd.weight', [QuantPS.Kernels.GgmlType]::F32, [long[]]@(64, 16))
        [QuantPS.Gguf.GgufTensorSpec]::new('output_norm.weight', [QuantPS.Kernels.GgmlType]::F32, [long[]]@(64))
    )
    $sizes = @((64 * 16 * 4), (64 * 4)) # parenthesized: the comma binds tighter than *
    $dataOf = [Func[int, ReadOnlyMemory[byte]]] { param($index) [ReadOnlyMemory[byte]]::new([byte[]]::new($sizes[$index])) }.GetNewClosure()
    [QuantPS.Gguf.GgufWriter]::Write($Path, $metadata, $tensors, $dataOf, $true)
    $Path
}

# A copy of the tiny model broken one way: BadMagic, UnsupportedVersion or Truncated (cut inside its tensor table).
function New-BrokenGguf {
    param(
        [Parameter(Mandatory)] [string] $Path,
        [Parameter(Mandatory)] [ValidateSet('BadMagic', 'UnsupportedVersion', 'Truncated')] [string] $Kind
    )

    $valid = New-TinyGguf -Path "$Path.valid"
    $bytes = [System.IO.File]::ReadAllBytes($valid)
    switch ($Kind) {
        'BadMagic' { [System.Text.Encoding]::ASCII.GetBytes('GGML').CopyTo($bytes, 0) }
        'UnsupportedVersion' { [BitConverter]::GetBytes([uint32]99).CopyTo($bytes, 4) }
        'Truncated' {
            $model = [QuantPS.Gguf.GgufModel]::Open($valid)
            try { $headerLength = $model.Header.HeaderLength } finally { $model.Dispose() }
            $bytes = $bytes[0..($headerLength - 5)]
        }
    }

    [System.IO.File]::WriteAllBytes($Path, [byte[]]$bytes)
    Remove-Item -LiteralPath $valid
    $Path
}
