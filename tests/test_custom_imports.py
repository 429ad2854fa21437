"""A config's own modules (``custom_imports``) are imported from beside the
config file or one of its bases, without a PYTHONPATH step; a module found
nowhere stops with one line naming it and every folder searched, in the
tools and in a suite."""
import os.path as osp
import sys
import uuid

import pytest

from clst_mmseg.apis import load_config
from clst_mmseg.apis.custom_imports import (MissingCustomModule,
                                            config_folders,
                                            import_custom_modules,
                                            missing_custom_module)
from clst_mmseg.benchmark.suite import SuiteError, load_suite
from conftest import ROOT

SOURCE_ONLY = osp.join(ROOT, 'configs', 'source_only', 'mini.py')


def _module(folder, name):
    """A module that says where it was imported from."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f'{name}.py').write_text('LOADED = __file__\n')


def _config(path, module, base=SOURCE_ONLY):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        f'_base_ = [{str(base)!r}]\n'
        f"custom_imports = dict(imports=['clst_mmseg.registration', "
        f"{module!r}], allow_failed_imports=False)\n")
    return str(path)


@pytest.fixture
def name():
    """A module name no other test imports."""
    name = f'user_method_{uuid.uuid4().hex[:8]}'
    yield name
    sys.modules.pop(name, None)


def test_module_beside_the_config_is_imported(tmp_path, name):
    _module(tmp_path / 'my_method', name)
    config = _config(tmp_path / 'my_method' / 'mini.py', name)
    assert missing_custom_module(
        dict(imports=[name]), config) is None
    cfg = load_config(config)
    assert sys.modules[name].LOADED == str(tmp_path / 'my_method' /
                                           f'{name}.py')
    assert cfg.custom_imports.imports[-1] == name


def test_module_beside_a_base_config_is_found_from_a_derived_one(
        tmp_path, name):
    _module(tmp_path / 'method', name)
    _config(tmp_path / 'method' / 'mini.py', name)
    derived = tmp_path / 'method' / 'ablations' / 'no_x.py'
    derived.parent.mkdir()
    derived.write_text("_base_ = ['../mini.py']\n")
    assert config_folders(str(derived)) == [
        str(derived.parent), str(tmp_path / 'method'),
        osp.dirname(SOURCE_ONLY)
    ] + config_folders(SOURCE_ONLY)[1:]
    load_config(str(derived))
    assert sys.modules[name].LOADED.startswith(str(tmp_path / 'method'))


def test_a_missing_module_stops_with_one_line(tmp_path, name):
    config = _config(tmp_path / 'x' / 'mini.py', name)
    with pytest.raises(MissingCustomModule) as err:
        load_config(config)
    msg = str(err.value)
    assert '\n' not in msg
    assert msg.startswith(
        f"custom_imports: module '{name}' of {config} is neither on "
        f'sys.path nor beside the config: no {name}.py or {name}/__init__.py'
        f" in {tmp_path / 'x'}, {osp.dirname(SOURCE_ONLY)}")
    # the tools print ValueErrors as `error: <message>`
    assert isinstance(err.value, ValueError)
    # allowed to fail: a warning, nothing raised
    with pytest.warns(UserWarning, match=f'module {name!r}'):
        import_custom_modules(
            dict(imports=[name], allow_failed_imports=True), config)


def test_a_suite_names_the_missing_module_before_any_run(tmp_path, name):
    config = _config(tmp_path / 'mine' / 'mini.py', name)
    suite = tmp_path / 'suite.py'
    suite.write_text(
        f"_base_ = ['{ROOT}/configs/benchmarks/_base_/default.py']\n"
        "tasks = ['mini']\n"
        f"methods = [dict(name='mine', config={config!r})]\n"
        "seeds = [0]\n"
        f"results_dir = {str(tmp_path / 'results')!r}\n")
    with pytest.raises(SuiteError, match=f"method 'mine': custom_imports: "
                       f"module '{name}' of {config} is neither"):
        load_suite(str(suite))
    _module(tmp_path / 'mine', name)
    assert load_suite(str(suite)).runs[0].method == 'mine'
