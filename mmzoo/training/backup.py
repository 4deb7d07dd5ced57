"""Per-epoch backups that a kill cannot corrupt.

`keras.callbacks.BackupAndRestore` writes `latest.weights.h5` and its epoch in place, so
a kill during the write leaves a truncated file that every rerun then fails to read
(an OSError naming no path). `AtomicBackupAndRestore` writes both to temporary files and
renames them, and names the file to delete when a backup cannot be read. Under
MultiWorkerMirroredStrategy every worker saves (as Keras requires) but only the chief's
backup is kept; the others write to a temporary folder that is deleted at once. Every
worker restores from the chief's `backup_dir`, which must be on a file system they all
see (a shared disk, or a `gs://` bucket through TensorFlow's file system).

>>> callback = AtomicBackupAndRestore("runs/late/backup")
>>> model.fit(train, epochs=10, callbacks=[callback])   # resumes after a kill
"""

import json
import os
import pathlib

import keras

from mmzoo.training.distribute import writing_dir
from mmzoo.weights import WeightsError


class AtomicBackupAndRestore(keras.callbacks.BackupAndRestore):
    """`BackupAndRestore` with atomic writes; the backup is kept after training (the
    caller deletes it once the final weights folder is complete)."""

    def __init__(self, backup_dir):
        super().__init__(str(backup_dir), delete_checkpoint=False)

    def _save_model(self):
        with writing_dir(self.backup_dir, self.model.distribute_strategy) as folder:
            folder.mkdir(parents=True, exist_ok=True)
            partial = folder / "partial.weights.h5"
            self.model.save_weights(filepath=str(partial), overwrite=True)
            os.replace(partial, folder / pathlib.Path(self._weights_path).name)
            # Weights first: a kill between the two renames repeats one epoch on resume.
            metadata = folder / "partial_training_metadata.json"
            metadata.write_text(json.dumps({"epoch": self._current_epoch,
                                            "batch": self._last_batch_seen}))
            os.replace(metadata, folder / pathlib.Path(self._training_metadata_path).name)

    def _load_model(self):
        try:
            super()._load_model()
        except json.JSONDecodeError as error:
            unreadable, failure = self._training_metadata_path, error
        except (OSError, ValueError, KeyError) as error:  # h5py's errors name no file
            unreadable, failure = self._weights_path, error
        else:
            return
        raise WeightsError(
            f"The training backup file {unreadable} cannot be read ({failure}). Delete "
            f"it with its folder {self.backup_dir} to train from the start (the weights "
            "and the epoch of a backup go together).") from failure
